fn main() {
    println!("args = {:?} bin = {}", std::env::args().collect::<Vec<_>>(), env!("CARGO_BIN_EXE_cadenced"));
}
