mod core;
mod props;
