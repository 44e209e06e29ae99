-- One line per table of the application's schema `public`: its name, row count and the MD5 of all its
-- rows in a fixed order. prepare.yml records it before converge; verify compares it after.
SELECT string_agg(format('%s %s %s', c.relname, x.n, x.h), E'\n' ORDER BY c.relname)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT
        (xpath('/row/n/text()', q))[1]::text AS n,
        (xpath('/row/h/text()', q))[1]::text AS h
    FROM query_to_xml(
        format(
            'SELECT count(*) AS n, md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS h FROM %I.%I AS t',
            E'\n', '', n.nspname, c.relname
        ),
        false, true, ''
    ) AS q
) AS x
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
