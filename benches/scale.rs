fn main() {
    println!("bin = {}", env!("CARGO_BIN_EXE_cadenced"));
}
