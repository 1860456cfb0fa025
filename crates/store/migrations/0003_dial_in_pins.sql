-- Dial-in PINs: the number a phone caller keys in to reach a room (Jitsi's conference mapper).
-- Made when first asked for, and kept, since invitations carry it.
CREATE TABLE dial_in_pins (
    room TEXT PRIMARY KEY,
    pin TEXT NOT NULL UNIQUE
);
