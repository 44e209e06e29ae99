-- Each expected view, in order: whether it exists in the views schema and the read-only role may read it.
SELECT v.name,
       c.oid IS NOT NULL AS present,
       coalesce(has_schema_privilege(r.oid, c.relnamespace, 'USAGE')
                AND has_table_privilege(r.oid, c.oid, 'SELECT'), false) AS readable
FROM unnest(string_to_array(%(views)s, ',')) WITH ORDINALITY AS v (name, position)
LEFT JOIN pg_namespace AS s ON s.nspname = %(schema)s
LEFT JOIN pg_class AS c ON c.relname = v.name AND c.relnamespace = s.oid AND c.relkind IN ('v', 'm')
LEFT JOIN pg_roles AS r ON r.rolname = %(role)s
ORDER BY v.position
