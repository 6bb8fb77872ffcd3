DROP TABLE IF EXISTS lookalike_destination_sync, lookalike_destination_member, lookalike_destination_audience,
  lookalike_destination;
