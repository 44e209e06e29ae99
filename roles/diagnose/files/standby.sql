-- On the standby: in recovery, streaming from the primary, and how far its replay is behind (0 when it has
-- replayed everything it received; otherwise the age of the last replayed transaction).
SELECT pg_is_in_recovery() AS in_recovery,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END AS lag_seconds
