pub mod charts;
pub mod layout;
pub mod outcome;
pub mod shortcuts;
