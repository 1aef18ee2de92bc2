mod calendar;
mod core;
mod props;
