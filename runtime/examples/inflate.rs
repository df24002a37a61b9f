//! Time inflating a gzip file with flate2 (the backend in use).
use std::io::Read;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).expect("path");
    let t = Instant::now();
    let f = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).unwrap());
    let mut d = flate2::bufread::MultiGzDecoder::new(f);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = d.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    println!("inflated {total} bytes in {:?}", t.elapsed());
}
