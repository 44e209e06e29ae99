-- Relations outside the system schemas that the read-only role may change (at most 20).
SELECT n.nspname || '.' || c.relname AS relation, p.privilege
FROM pg_roles AS r
CROSS JOIN pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p (privilege)
WHERE r.rolname = %(role)s
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%%'
  AND has_table_privilege(r.oid, c.oid, p.privilege)
ORDER BY 1, 2
LIMIT 20
