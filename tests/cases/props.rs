//! Property tests of the schedule (written next).
