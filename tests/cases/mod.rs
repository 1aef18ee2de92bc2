mod calendar;
mod core;
mod props;
mod tasks;
