//! Fault injection on the DynamoDB backend (written next).
