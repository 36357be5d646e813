pub mod charts;
pub mod decide;
pub mod layout;
pub mod outcome;
pub mod shortcuts;
pub mod table;
