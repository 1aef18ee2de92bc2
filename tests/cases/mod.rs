mod bench_smoke;
mod calendar;
mod core;
mod fuzz;
mod inbox;
mod props;
mod safety;
mod tasks;
