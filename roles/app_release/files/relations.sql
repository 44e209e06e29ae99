-- Every relation of the application's schemas and the views schema, and what the read-only role can
-- read of it (nothing when the role does not exist yet). Read-only.
WITH reader AS (
    SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s
)
SELECT n.nspname || '.' || c.relname AS relation,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
       (SELECT count(*) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       COALESCE((SELECT count(*) FROM pg_catalog.pg_attribute a, reader
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    AND pg_catalog.has_schema_privilege(reader.oid, n.oid, 'USAGE')
                    AND pg_catalog.has_column_privilege(reader.oid, c.oid, a.attnum, 'SELECT')), 0) AS readable_columns
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (pg_catalog.string_to_array(%(schemas)s, ','))
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY 1
