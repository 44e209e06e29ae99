-- cronicorn.monitoring.readonly_user: the privileges the read-only role must have in the current
-- database, compared with what it has. Read-only: it only reads the catalogs.
--
-- One named parameter, config: a JSON object (see tasks/main.yml) with role, app_owner, app_schemas,
-- views_schema, denied_tables, reviewed_tables, table_pattern, column_pattern, reviewed_columns,
-- withheld_columns, regrant_roles, conn_limit, settings (the role's wanted "name=value" session defaults),
-- comment. (Doubled percent signs are psycopg's escape for a literal percent sign.)
--
-- One row:
--   role_exists,
--   public_losses  privileges PUBLIC holds that it must lose (TEMPORARY on the database, CREATE on
--               schemas, EXECUTE on the functions that create large objects), as postgresql_privs arguments,
--   other_losses  for each other login role that can connect here and holds one of public_losses only
--               through PUBLIC (not a superuser, not the read-only role, not in regrant_roles): that
--               privilege, with its role, as postgresql_privs arguments,
--   role_changes  what postgresql_user and postgresql_membership would change on the role (its password
--               aside), as text: check mode reports it without running them,
--   statements  GRANT/REVOKE statements that turn the role's own ACL entries into the desired ones,
--               in order; empty when nothing is to change,
--   relations   how every relation of the application and views schemas is classified (the report),
--   violations  effective privileges that must not exist, whoever granted them (checked after applying).
WITH cfg AS (
    SELECT %(config)s::jsonb AS c
),

p AS (
    SELECT
        c AS conf,
        c ->> 'role' AS ro_name,
        (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = c ->> 'role') AS ro,
        (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = c ->> 'app_owner') AS app_owner,
        c ->> 'app_owner' AS app_owner_name,
        array(SELECT jsonb_array_elements_text(c -> 'app_schemas')) AS app_schemas,
        c ->> 'views_schema' AS views_schema,
        array(SELECT jsonb_array_elements_text(c -> 'denied_tables')) AS denied_tables,
        array(SELECT jsonb_array_elements_text(c -> 'reviewed_tables')) AS reviewed_tables,
        c ->> 'table_pattern' AS table_pattern,
        c ->> 'column_pattern' AS column_pattern,
        array(SELECT jsonb_array_elements_text(c -> 'reviewed_columns')) AS reviewed_columns,
        array(SELECT jsonb_array_elements_text(c -> 'withheld_columns')) AS withheld_columns,
        array(SELECT jsonb_array_elements_text(c -> 'regrant_roles')) AS regrant_roles,
        -- The functions that create large objects: anyone may call them unless EXECUTE is revoked.
        array[
            'pg_catalog.lo_create(oid)'::regprocedure::oid,
            'pg_catalog.lo_creat(integer)'::regprocedure::oid,
            'pg_catalog.lo_from_bytea(oid, bytea)'::regprocedure::oid
        ] AS lo_creators
    FROM cfg
),

-- Every schema and relation outside the system schemas.
nsp AS (
    SELECT n.oid, n.nspname, n.nspacl, n.nspowner
    FROM pg_namespace AS n
    WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
),

rel AS (
    SELECT
        c.oid, nsp.nspname, c.relname, c.relkind, c.relowner, c.relacl,
        format('%%I.%%I', nsp.nspname, c.relname) AS qname,
        array[c.relname::text, nsp.nspname || '.' || c.relname] AS names
    FROM pg_class AS c
    INNER JOIN nsp ON nsp.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
),

col AS (
    SELECT
        a.attrelid, a.attnum, a.attname, a.attacl,
        array[rel.relname || '.' || a.attname, rel.nspname || '.' || rel.relname || '.' || a.attname]
        && p.withheld_columns AS withheld,
        array[rel.relname || '.' || a.attname, rel.nspname || '.' || rel.relname || '.' || a.attname]
        && p.reviewed_columns AS reviewed,
        a.attname ~* p.column_pattern AS looks_secret
    FROM rel
    INNER JOIN pg_attribute AS a ON a.attrelid = rel.oid
    CROSS JOIN p
    WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind <> 'S'
),

-- The decision for each relation: the first rule that applies.
cls AS (
    SELECT rel.*, d.decision, d.reason
    FROM rel
    CROSS JOIN p
    LEFT JOIN LATERAL (
        SELECT string_agg(col.attname, ', ' ORDER BY col.attnum) AS names
        FROM col
        WHERE col.attrelid = rel.oid AND col.looks_secret AND NOT col.reviewed AND NOT col.withheld
    ) AS secret_cols ON true
    CROSS JOIN LATERAL (
        SELECT v.decision, v.reason
        FROM (VALUES
            (1, rel.relkind = 'S', 'none', 'sequence'),
            (2, rel.nspname = p.views_schema AND rel.relkind IN ('v', 'm'), 'view', 'analytics view'),
            (3, rel.nspname = p.views_schema, 'none', 'not a view'),
            (4, NOT rel.nspname = any(p.app_schemas), 'none', 'outside the application schemas'),
            (5, rel.relowner IS DISTINCT FROM p.app_owner, 'none', 'not owned by the application owner'),
            (6, rel.names && p.denied_tables, 'hidden', 'listed in readonly_user_denied_tables'),
            (7, rel.relname ~* p.table_pattern AND NOT rel.names && p.reviewed_tables,
                'hidden', 'name matches readonly_user_denied_table_pattern'),
            (8, secret_cols.names IS NOT NULL,
                'hidden', 'unreviewed credential-like column(s): ' || secret_cols.names),
            (9, true, 'readable', 'ordinary data')
        ) AS v (prio, applies, decision, reason)
        WHERE v.applies
        ORDER BY v.prio
        LIMIT 1
    ) AS d
),

-- What the role has (its own ACL entries only) and what it should have, per relation.
rel_acl AS (
    SELECT
        cls.oid, cls.nspname, cls.relname, cls.qname, cls.relkind, cls.decision, cls.reason,
        coalesce((
            SELECT string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ','
                              ORDER BY a.privilege_type)
            FROM aclexplode(cls.relacl) AS a
            WHERE a.grantee = p.ro
        ), '') AS have_table,
        coalesce((
            SELECT string_agg(quote_ident(col.attname) || ':' || a.privilege_type
                              || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ','
                              ORDER BY col.attnum, a.privilege_type)
            FROM col
            CROSS JOIN LATERAL aclexplode(col.attacl) AS a
            WHERE col.attrelid = cls.oid AND a.grantee = p.ro
        ), '') AS have_columns,
        CASE WHEN cls.decision = 'view' THEN 'SELECT' ELSE '' END AS want_table,
        CASE WHEN cls.decision = 'readable' THEN coalesce((
            SELECT string_agg(quote_ident(col.attname) || ':SELECT', ',' ORDER BY col.attnum)
            FROM col
            WHERE col.attrelid = cls.oid AND NOT col.withheld
        ), '') ELSE '' END AS want_columns,
        CASE WHEN cls.decision = 'readable' THEN (
            SELECT string_agg(quote_ident(col.attname), ', ' ORDER BY col.attnum)
            FROM col
            WHERE col.attrelid = cls.oid AND NOT col.withheld
        ) END AS grant_list,
        CASE WHEN cls.decision = 'readable' THEN (
            SELECT string_agg(col.attname, ', ' ORDER BY col.attnum)
            FROM col
            WHERE col.attrelid = cls.oid AND col.withheld
        ) END AS withheld_list
    FROM cls
    CROSS JOIN p
),

-- The statements, with a sort key: role settings, database, schemas, default privileges, relations,
-- routines.
stmt AS (
    -- Settings of the role for this database only (ALTER ROLE ... IN DATABASE ... SET): none. They would
    -- override the role-wide defaults (read-only transactions, timeouts, search_path).
    SELECT 0 AS ord, '' AS obj, 1 AS sub,
        format('ALTER ROLE %%I IN DATABASE %%I RESET ALL', p.ro_name, current_database()) AS sql
    FROM pg_db_role_setting AS s
    INNER JOIN pg_database AS d ON d.oid = s.setdatabase
    CROSS JOIN p
    WHERE s.setrole = p.ro AND d.datname = current_database()

    UNION ALL

    -- Database: CONNECT, nothing else.
    SELECT 1, '', s.n, s.sql
    FROM p
    CROSS JOIN LATERAL (
        SELECT coalesce(string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ','
                                   ORDER BY a.privilege_type), '') AS have
        FROM pg_database AS d
        CROSS JOIN LATERAL aclexplode(d.datacl) AS a
        WHERE d.datname = current_database() AND a.grantee = p.ro
    ) AS h
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN h.have <> '' THEN format('REVOKE ALL ON DATABASE %%I FROM %%I', current_database(), p.ro_name) END),
        (2, format('GRANT CONNECT ON DATABASE %%I TO %%I', current_database(), p.ro_name))
    ) AS s (n, sql)
    WHERE h.have <> 'CONNECT' AND s.sql IS NOT NULL

    UNION ALL

    -- Schemas: USAGE on the application and views schemas, nothing anywhere else.
    SELECT 2, w.nspname, s.n, s.sql
    FROM (
        SELECT
            nsp.nspname,
            CASE WHEN nsp.nspname = any(p.app_schemas) OR nsp.nspname = p.views_schema THEN 'USAGE' ELSE '' END AS want,
            coalesce((
                SELECT string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ','
                                  ORDER BY a.privilege_type)
                FROM aclexplode(nsp.nspacl) AS a
                WHERE a.grantee = p.ro
            ), '') AS have
        FROM nsp
        CROSS JOIN p
    ) AS w
    CROSS JOIN p
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN w.have <> '' THEN format('REVOKE ALL ON SCHEMA %%I FROM %%I', w.nspname, p.ro_name) END),
        (2, CASE WHEN w.want <> '' THEN format('GRANT USAGE ON SCHEMA %%I TO %%I', w.nspname, p.ro_name) END)
    ) AS s (n, sql)
    WHERE w.have <> w.want AND s.sql IS NOT NULL

    UNION ALL

    -- Default privileges naming the role: none. They would make objects readable at creation,
    -- before any review (the usual "ALTER DEFAULT PRIVILEGES ... GRANT SELECT" recipe).
    SELECT DISTINCT 3, d.oid::text, 1,
        format('ALTER DEFAULT PRIVILEGES FOR ROLE %%I%%s REVOKE ALL ON %%s FROM %%I',
               pg_get_userbyid(d.defaclrole),
               CASE WHEN d.defaclnamespace <> 0 THEN ' IN SCHEMA ' || quote_ident(n.nspname) ELSE '' END,
               CASE d.defaclobjtype
                   WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                   WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS'
               END,
               p.ro_name)
    FROM pg_default_acl AS d
    LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
    CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
    CROSS JOIN p
    WHERE a.grantee = p.ro

    UNION ALL

    -- Relations: table-level SELECT on the analytics views; column-level SELECT on the readable
    -- columns of ordinary application tables; nothing on anything else. A table-level REVOKE also
    -- revokes the column privileges, so a relation that differs is reset and granted afresh.
    SELECT 4, r.qname, s.n, s.sql
    FROM rel_acl AS r
    CROSS JOIN p
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN r.have_table <> '' OR r.have_columns <> '' THEN
                format('REVOKE ALL ON %%s %%s FROM %%I',
                       CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.qname, p.ro_name) END),
        (2, CASE WHEN r.want_table <> '' THEN format('GRANT SELECT ON TABLE %%s TO %%I', r.qname, p.ro_name) END),
        (3, CASE WHEN r.want_columns <> '' THEN
                format('GRANT SELECT (%%s) ON TABLE %%s TO %%I', r.grant_list, r.qname, p.ro_name) END)
    ) AS s (n, sql)
    WHERE (r.have_table, r.have_columns) <> (r.want_table, r.want_columns) AND s.sql IS NOT NULL

    UNION ALL

    -- Routines granted to the role directly: none, except in the views schema, whose routines belong to
    -- the views role (a view's functions are called with the privileges of whoever queries the view).
    SELECT 5, f.oid::regprocedure::text, 1, format('REVOKE ALL ON ROUTINE %%s FROM %%I', f.oid::regprocedure, p.ro_name)
    FROM pg_proc AS f
    INNER JOIN nsp ON nsp.oid = f.pronamespace
    CROSS JOIN p
    WHERE nsp.nspname IS DISTINCT FROM p.views_schema
        AND EXISTS (SELECT FROM aclexplode(f.proacl) AS a WHERE a.grantee = p.ro)
),

-- Effective privileges that must not exist, whether granted to the role, to PUBLIC or to a role it
-- belongs to. Only meaningful once the role exists and the statements above have been applied.
violation AS (
    SELECT format('role attribute %%s', v.attr) AS msg
    FROM pg_roles AS r
    CROSS JOIN p
    CROSS JOIN LATERAL (VALUES
        ('SUPERUSER', r.rolsuper), ('CREATEDB', r.rolcreatedb), ('CREATEROLE', r.rolcreaterole),
        ('REPLICATION', r.rolreplication), ('BYPASSRLS', r.rolbypassrls), ('INHERIT', r.rolinherit),
        ('no default_transaction_read_only=on',
         NOT coalesce('default_transaction_read_only=on' = any(r.rolconfig), false))
    ) AS v (attr, bad)
    WHERE r.oid = p.ro AND v.bad

    UNION ALL

    SELECT format('member of role %%I', pg_get_userbyid(m.roleid))
    FROM pg_auth_members AS m
    CROSS JOIN p
    WHERE m.member = p.ro

    UNION ALL

    SELECT format('%%s on database %%I', v.priv, current_database())
    FROM p
    CROSS JOIN LATERAL (VALUES ('CREATE'), ('TEMPORARY')) AS v (priv)
    WHERE p.ro IS NOT NULL AND has_database_privilege(p.ro, current_database(), v.priv)

    UNION ALL

    SELECT format('CREATE on schema %%I', nsp.nspname)
    FROM nsp
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND has_schema_privilege(p.ro, nsp.oid, 'CREATE')

    UNION ALL

    SELECT format('application owner %%I does not exist', p.app_owner_name)
    FROM p
    WHERE p.app_owner IS NULL

    UNION ALL

    SELECT format('application schema %%I does not exist', s.name)
    FROM p
    CROSS JOIN LATERAL unnest(p.app_schemas) AS s (name)
    WHERE NOT EXISTS (SELECT FROM pg_namespace AS n WHERE n.nspname = s.name)

    UNION ALL

    SELECT format('write privilege on %%s', r.qname)
    FROM rel AS r
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND CASE
        WHEN r.relkind = 'S' THEN has_sequence_privilege(p.ro, r.oid, 'USAGE, UPDATE')
        ELSE has_table_privilege(p.ro, r.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
            OR has_any_column_privilege(p.ro, r.oid, 'INSERT, UPDATE, REFERENCES')
    END

    UNION ALL

    SELECT format('can read hidden relation %%s (%%s)', r.qname, r.reason)
    FROM cls AS r
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND r.decision = 'hidden' AND has_any_column_privilege(p.ro, r.oid, 'SELECT')

    UNION ALL

    SELECT format('table-level SELECT on %%s (would cover columns added later)', r.qname)
    FROM cls AS r
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND r.decision = 'readable' AND has_table_privilege(p.ro, r.oid, 'SELECT')

    UNION ALL

    SELECT format('can read withheld column %%s.%%I', r.qname, col.attname)
    FROM cls AS r
    INNER JOIN col ON col.attrelid = r.oid
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND r.decision = 'readable' AND col.withheld
        AND has_column_privilege(p.ro, r.oid, col.attnum, 'SELECT')

    UNION ALL

    SELECT format('default privileges of role %%I%%s give PUBLIC %%s on new %%s: they would be readable before review',
                      pg_get_userbyid(d.defaclrole),
                      CASE WHEN d.defaclnamespace <> 0 THEN ' in schema ' || quote_ident(n.nspname) ELSE '' END,
                      a.privilege_type,
                      CASE d.defaclobjtype WHEN 'r' THEN 'tables' ELSE 'sequences' END)
    FROM pg_default_acl AS d
    LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
    CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
    WHERE a.grantee = 0 AND d.defaclobjtype IN ('r', 'S')

    UNION ALL

    SELECT format('can create large objects with %%s (EXECUTE granted to PUBLIC?)', f.oid::regprocedure)
    FROM pg_proc AS f
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND f.oid = any(p.lo_creators) AND has_function_privilege(p.ro, f.oid, 'EXECUTE')

    UNION ALL

    SELECT format('SECURITY DEFINER routine %%s is executable (revoke EXECUTE from PUBLIC)', f.oid::regprocedure)
    FROM pg_proc AS f
    INNER JOIN nsp ON nsp.oid = f.pronamespace
    CROSS JOIN p
    WHERE p.ro IS NOT NULL AND f.prosecdef AND f.proowner <> p.ro AND nsp.nspname IS DISTINCT FROM p.views_schema
        AND has_function_privilege(p.ro, f.oid, 'EXECUTE')
),

-- Login roles other than the read-only role that can connect to this database and would lose a privilege
-- PUBLIC holds here: superusers, owners (and members of the owner) and roles granted it explicitly
-- (directly or through an inherited membership) keep it anyway.
other AS (
    SELECT r.oid, r.rolname
    FROM pg_roles AS r
    CROSS JOIN p
    WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname !~ '^pg_'
        AND r.oid IS DISTINCT FROM p.ro
        AND NOT r.rolname = any(p.regrant_roles)
        AND has_database_privilege(r.oid, current_database(), 'CONNECT')
),

other_loss AS (
    SELECT o.rolname AS role, 1 AS ord, current_database()::text AS obj,
        jsonb_build_object('role', o.rolname, 'type', 'database', 'objs', current_database(), 'privs', 'TEMPORARY',
                           'summary', format('%%s: TEMPORARY on database %%s', o.rolname, current_database()))
            AS privilege
    FROM other AS o
    CROSS JOIN pg_database AS d
    WHERE d.datname = current_database()
        AND NOT pg_has_role(o.oid, d.datdba, 'USAGE')
        AND EXISTS (SELECT FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a
                    WHERE a.grantee = 0 AND a.privilege_type = 'TEMPORARY')
        AND NOT EXISTS (SELECT FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a
                        WHERE a.grantee <> 0 AND a.privilege_type = 'TEMPORARY' AND pg_has_role(o.oid, a.grantee, 'USAGE'))

    UNION ALL

    SELECT o.rolname, 2, nsp.nspname::text,
        jsonb_build_object('role', o.rolname, 'type', 'schema', 'objs', nsp.nspname, 'privs', 'CREATE',
                           'summary', format('%%s: CREATE on schema %%s', o.rolname, nsp.nspname))
    FROM other AS o
    CROSS JOIN nsp
    WHERE NOT pg_has_role(o.oid, nsp.nspowner, 'USAGE')
        AND EXISTS (SELECT FROM aclexplode(coalesce(nsp.nspacl, acldefault('n', nsp.nspowner))) AS a
                    WHERE a.grantee = 0 AND a.privilege_type = 'CREATE')
        AND NOT EXISTS (SELECT FROM aclexplode(coalesce(nsp.nspacl, acldefault('n', nsp.nspowner))) AS a
                        WHERE a.grantee <> 0 AND a.privilege_type = 'CREATE' AND pg_has_role(o.oid, a.grantee, 'USAGE'))

    UNION ALL

    SELECT o.rolname, 3, f.proname::text,
        jsonb_build_object('role', o.rolname, 'type', 'function', 'schema', 'pg_catalog', 'privs', 'EXECUTE',
                           'objs', f.proname || '(' || replace(oidvectortypes(f.proargtypes), ', ', ':') || ')',
                           'summary', format('%%s: EXECUTE on %%s', o.rolname, f.oid::regprocedure))
    FROM other AS o
    CROSS JOIN pg_proc AS f
    CROSS JOIN p
    WHERE f.oid = any(p.lo_creators)
        AND NOT pg_has_role(o.oid, f.proowner, 'USAGE')
        AND EXISTS (SELECT FROM aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) AS a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
        AND NOT EXISTS (SELECT FROM aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) AS a
                        WHERE a.grantee <> 0 AND a.privilege_type = 'EXECUTE' AND pg_has_role(o.oid, a.grantee, 'USAGE'))
),

-- What postgresql_user and postgresql_membership would change on the role (the password aside).
role_change AS (
    SELECT 1 AS ord, format('create role %%s', p.ro_name) AS change
    FROM p
    WHERE p.ro IS NULL

    UNION ALL

    SELECT 2, format('role %%s: %%s', r.rolname, v.what)
    FROM pg_roles AS r
    CROSS JOIN p
    CROSS JOIN LATERAL (VALUES
        (NOT r.rolcanlogin, 'LOGIN'), (r.rolsuper, 'NOSUPERUSER'), (r.rolcreatedb, 'NOCREATEDB'),
        (r.rolcreaterole, 'NOCREATEROLE'), (r.rolreplication, 'NOREPLICATION'), (r.rolbypassrls, 'NOBYPASSRLS'),
        (r.rolinherit, 'NOINHERIT'),
        (r.rolconnlimit <> (p.conf ->> 'conn_limit')::int, 'CONNECTION LIMIT ' || (p.conf ->> 'conn_limit')),
        (array(SELECT x FROM unnest(coalesce(r.rolconfig, '{}')) AS x ORDER BY x)
            <> array(SELECT x FROM jsonb_array_elements_text(p.conf -> 'settings') AS x ORDER BY x),
         'session defaults ' || (p.conf -> 'settings')::text),
        (shobj_description(r.oid, 'pg_authid') IS DISTINCT FROM p.conf ->> 'comment', 'comment')
    ) AS v (bad, what)
    WHERE r.oid = p.ro AND v.bad

    UNION ALL

    SELECT 3, format('role %%s: leave role %%s', p.ro_name, pg_get_userbyid(m.roleid))
    FROM pg_auth_members AS m
    CROSS JOIN p
    WHERE m.member = p.ro
)

SELECT
    p.ro IS NOT NULL AS role_exists,
    coalesce((SELECT jsonb_agg(l.privilege ORDER BY l.role, l.ord, l.obj) FROM other_loss AS l), '[]') AS other_losses,
    coalesce((SELECT jsonb_agg(rc.change ORDER BY rc.ord, rc.change) FROM role_change AS rc), '[]') AS role_changes,
    -- What PUBLIC holds and must lose, in the notation of postgresql_privs: TEMPORARY on this database,
    -- CREATE on schemas, EXECUTE on the functions that create large objects.
    coalesce((
        SELECT jsonb_agg(loss.privilege ORDER BY loss.ord)
        FROM (
            SELECT 1 AS ord, jsonb_build_object('type', 'database', 'objs', current_database(), 'privs', 'TEMPORARY')
                AS privilege
            FROM pg_database AS d
            CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a
            WHERE d.datname = current_database() AND a.grantee = 0 AND a.privilege_type = 'TEMPORARY'

            UNION ALL

            SELECT 2, jsonb_build_object(
                'type', 'schema', 'objs', string_agg(nsp.nspname, ',' ORDER BY nsp.nspname), 'privs', 'CREATE')
            FROM nsp
            CROSS JOIN LATERAL aclexplode(coalesce(nsp.nspacl, acldefault('n', nsp.nspowner))) AS a
            WHERE a.grantee = 0 AND a.privilege_type = 'CREATE'
            HAVING count(*) > 0

            UNION ALL

            SELECT 3, jsonb_build_object(
                'type', 'function', 'schema', 'pg_catalog', 'privs', 'EXECUTE',
                'objs', string_agg(f.proname || '(' || replace(oidvectortypes(f.proargtypes), ', ', ':') || ')', ','
                                   ORDER BY f.proname))
            FROM pg_proc AS f
            CROSS JOIN LATERAL aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) AS a
            WHERE f.oid = any(p.lo_creators) AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
            HAVING count(*) > 0
        ) AS loss
    ), '[]') AS public_losses,
    coalesce((SELECT jsonb_agg(stmt.sql ORDER BY stmt.ord, stmt.obj, stmt.sub) FROM stmt), '[]') AS statements,
    coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'relation', r.qname,
            'decision', r.decision,
            'reason', r.reason,
            'withheld', r.withheld_list,
            'summary', format('%%s: %%s (%%s%%s)', r.qname, r.decision, r.reason,
                              CASE WHEN r.withheld_list IS NOT NULL THEN '; withheld: ' || r.withheld_list ELSE '' END)
        ) ORDER BY r.nspname, r.relname)
        FROM rel_acl AS r
        WHERE r.relkind <> 'S' AND (r.nspname = any(p.app_schemas) OR r.nspname = p.views_schema)
    ), '[]') AS relations,
    coalesce((SELECT jsonb_agg(DISTINCT violation.msg) FROM violation), '[]') AS violations
FROM p
