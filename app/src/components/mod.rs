pub mod charts;
pub mod layout;
pub mod shortcuts;
