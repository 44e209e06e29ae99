-- The read-only role: whether it exists, may log in, and which attributes beyond LOGIN it has.
SELECT r.oid IS NOT NULL AS role_exists,
       coalesce(r.rolcanlogin, false) AS can_login,
       array_remove(ARRAY[
           CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
           CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
           CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
           CASE WHEN r.rolreplication THEN 'REPLICATION' END,
           CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END
       ], NULL) AS attributes
FROM (SELECT %(role)s::name AS name) AS wanted
LEFT JOIN pg_roles AS r ON r.rolname = wanted.name
