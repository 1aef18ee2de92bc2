mod calendar;
mod core;
mod props;
mod safety;
mod tasks;
