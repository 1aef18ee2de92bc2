mod calendar;
mod core;
mod inbox;
mod props;
mod safety;
mod tasks;
