-- Recording jobs (LiveKit's EgressInfo, as JSON), so ListEgress still knows
-- them after a restart and a job a crash interrupted is reported failed.
CREATE TABLE recordings (
    egress_id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    active BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    info TEXT NOT NULL
);

CREATE INDEX recordings_room ON recordings (room, updated_at);
