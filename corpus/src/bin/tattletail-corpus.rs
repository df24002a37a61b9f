//! `tattletail-corpus`: write deterministic CloudTrail log files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tattletail_corpus::{write_file, Generator, Layout};

/// Generate CloudTrail log files (same seed, same bytes).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Output directory.
    #[arg(long, default_value = "corpus/generated")]
    out: PathBuf,
    /// Number of files.
    #[arg(long, default_value_t = 4)]
    files: u64,
    /// Records per file.
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write .json.gz (as CloudTrail delivers) instead of .json.
    #[arg(long)]
    gzip: bool,
    /// Pretty-print the JSON.
    #[arg(long)]
    pretty: bool,
    /// Mix in adversarial records.
    #[arg(long)]
    adversarial: bool,
    /// Only write the file of all adversarial records to this path.
    #[arg(long)]
    adversarial_sample: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if let Some(p) = &a.adversarial_sample {
        std::fs::write(p, tattletail_corpus::adversarial_file())
            .with_context(|| format!("cannot write {}", p.display()))?;
        return Ok(());
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut g = Generator::new(a.seed);
    let layout = Layout {
        pretty: a.pretty,
        adversarial: a.adversarial,
    };
    for i in 0..a.files {
        let name = format!(
            "123456789012_CloudTrail_us-east-1_20261101T{:02}{:02}Z_seed{}.json{}",
            i / 60 % 24,
            i % 60,
            a.seed,
            if a.gzip { ".gz" } else { "" }
        );
        let path = a.out.join(name);
        let file = BufWriter::new(
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        if a.gzip {
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(6));
            write_file(&mut g, a.records, layout, &mut gz)?;
            gz.finish()?.flush()?;
        } else {
            let mut file = file;
            write_file(&mut g, a.records, layout, &mut file)?;
            file.flush()?;
        }
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
