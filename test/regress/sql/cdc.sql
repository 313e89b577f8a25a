-- CDC offsets and schema history: a batch stored, a retry storing nothing,
-- the latest offset of each key, the history in insertion order.
SELECT nilus.store_offsets('acme', 'orders-cdc', '{"resource_id": "dataos://orders-cdc",
    "connector_name": "pg-orders", "offsets": [
      {"id": "00000000-0000-0000-0000-00000000000a", "offset_key": "k1", "offset_val": "{\"lsn\": 1}"},
      {"id": "00000000-0000-0000-0000-00000000000b", "offset_key": "k2", "offset_val": "{\"lsn\": 2}"},
      {"id": "00000000-0000-0000-0000-00000000000c", "offset_key": "k1", "offset_val": "{\"lsn\": 3}"}]}');
SELECT nilus.store_offsets('acme', 'orders-cdc', '{"resource_id": "dataos://orders-cdc",
    "connector_name": "pg-orders", "offsets": [
      {"id": "00000000-0000-0000-0000-00000000000c", "offset_key": "k1", "offset_val": "{\"lsn\": 3}"}]}') AS retried;
SELECT o ->> 'offset_key' AS offset_key, o ->> 'offset_val' AS offset_val
  FROM jsonb_array_elements(nilus.get_offsets('acme', 'orders-cdc')::jsonb -> 'offsets') AS o;
SELECT nilus.list_cdc_offsets('acme', offset_key => 'k1')::jsonb -> 'total' AS k1_records;
SELECT nilus.store_schema_history('acme', 'orders-cdc', '{"resource_id": "dataos://orders-cdc",
    "connector_name": "pg-orders", "records": [{"history_data": "{\"ddl\": \"CREATE TABLE t\"}"},
                                               {"history_data": "{\"ddl\": \"ALTER TABLE t\"}"}]}');
SELECT r ->> 'history_data' AS history_data
  FROM jsonb_array_elements(nilus.get_schema_history('acme', 'orders-cdc')::jsonb -> 'records') AS r;
SELECT nilus.schema_history_exists('acme', 'orders-cdc');
