"""The app DB tables and triggers of access.py (migration 40), kept apart so appdb imports no route logic."""

SQL = r"""
CREATE TABLE data_permission (
    group_id  integer NOT NULL REFERENCES permissions_group (id) ON DELETE CASCADE,
    db_id     integer NOT NULL REFERENCES metabase_database (id) ON DELETE CASCADE,
    perm_type text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (group_id, db_id, perm_type)
);
CREATE TABLE collection_permission (
    group_id       integer NOT NULL REFERENCES permissions_group (id) ON DELETE CASCADE,
    collection_key text NOT NULL,
    value          text NOT NULL,
    PRIMARY KEY (group_id, collection_key)
);
CREATE TABLE permissions_revision (
    id         serial PRIMARY KEY,
    graph      text NOT NULL,
    user_id    integer,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE permissions_group_id_seq START 3;
ALTER TABLE permissions_group ALTER COLUMN id SET DEFAULT nextval('permissions_group_id_seq');
ALTER TABLE permissions_group_membership ADD COLUMN id serial UNIQUE;
ALTER TABLE permissions_group_membership ADD COLUMN is_group_manager boolean NOT NULL DEFAULT false;
CREATE TABLE cache_config (
    model    text NOT NULL,
    model_id integer NOT NULL,
    strategy jsonb NOT NULL,
    id       serial UNIQUE,
    PRIMARY KEY (model, model_id)
);
ALTER TABLE metabase_field ADD COLUMN caveats text;
ALTER TABLE metabase_field ADD COLUMN points_of_interest text;
ALTER TABLE metabase_table ADD COLUMN caveats text;
ALTER TABLE metabase_table ADD COLUMN points_of_interest text;

-- Trap 6: a new database opens up to every non-admin group.
CREATE FUNCTION access_new_database() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE g integer;
BEGIN
  FOR g IN SELECT id FROM permissions_group WHERE id <> 2 LOOP
    INSERT INTO data_permission VALUES (g, NEW.id, 'view-data', 'unrestricted');
    INSERT INTO data_permission VALUES (g, NEW.id, 'create-queries', COALESCE(
      (SELECT value FROM data_permission WHERE group_id = g AND perm_type = 'create-queries' AND db_id <> NEW.id
       ORDER BY array_position(ARRAY['query-builder-and-native','query-builder','no'], value) DESC LIMIT 1),
      'query-builder-and-native'));
    INSERT INTO data_permission VALUES (g, NEW.id, 'download', COALESCE(
      (SELECT value FROM data_permission WHERE group_id = g AND perm_type = 'download' AND db_id <> NEW.id
       ORDER BY array_position(ARRAY['full','limited','none'], value) DESC LIMIT 1),
      'full'));
  END LOOP;
  RETURN NEW;
END $$;
CREATE TRIGGER access_new_database AFTER INSERT ON metabase_database
  FOR EACH ROW EXECUTE FUNCTION access_new_database();

-- A new group gets All Users' data permissions for every database.
CREATE FUNCTION access_new_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO data_permission (group_id, db_id, perm_type, value)
    SELECT NEW.id, db_id, perm_type, value FROM data_permission WHERE group_id = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER access_new_group AFTER INSERT ON permissions_group
  FOR EACH ROW EXECUTE FUNCTION access_new_group();

-- A new (non-personal) collection copies its parent's permissions.
CREATE FUNCTION access_new_collection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.personal_owner_id IS NOT NULL OR NEW.type IS NOT DISTINCT FROM 'trash' OR NEW.namespace IS NOT NULL
     OR (NEW.parent_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM collection c WHERE c.id = NEW.parent_id AND c.personal_owner_id IS NOT NULL)) THEN
    RETURN NEW;
  END IF;
  INSERT INTO collection_permission (group_id, collection_key, value)
    SELECT group_id, NEW.id::text, value FROM collection_permission
    WHERE collection_key = COALESCE(NEW.parent_id::text, 'root');
  RETURN NEW;
END $$;
CREATE TRIGGER access_new_collection AFTER INSERT ON collection
  FOR EACH ROW EXECUTE FUNCTION access_new_collection();

INSERT INTO collection_permission VALUES (1, 'root', 'write');
INSERT INTO data_permission (group_id, db_id, perm_type, value)
  SELECT 1, id, t.perm_type, t.value FROM metabase_database,
    (VALUES ('view-data', 'unrestricted'), ('create-queries', 'query-builder-and-native'), ('download', 'full'))
    AS t (perm_type, value);
"""
