//! `plotter render`: reads a blob file, renders one chart or all six, writes the files.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use waveplot_plotter::{RenderOptions, parts, render};
use waveplot_protocol::blob::{Header, Index, Parts, TAIL_BYTES};
use waveplot_protocol::{Blob, BlobError, PlotId};

use crate::config::RenderArgs;

/// Runs `plotter render` with `args`.
pub(crate) fn render_command(args: &RenderArgs) -> anyhow::Result<()> {
    let blob = read(&args.blob, args.plot)
        .with_context(|| format!("read blob {}", args.blob.display()))?;
    match (args.plot, &args.out, &args.out_dir) {
        (Some(plot), Some(out), _) => one(&blob, plot, args, out),
        (Some(plot), None, _) => {
            let out = Path::new(".").join(format!("{plot}.{}", args.format.extension()));
            one(&blob, plot, args, &out)
        }
        (None, _, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create output directory {}", dir.display()))?;
            for plot in PlotId::ALL {
                let out = dir.join(format!("{plot}.{}", args.format.extension()));
                one(&blob, plot, args, &out)?;
            }
            Ok(())
        }
        (None, _, None) => anyhow::bail!("give --plot with --out, or --all with --out-dir"),
    }
}

/// The blob file at `path`: only what `plot` draws (everything for all six charts),
/// read by sections as a plotter reads the store when the blob has an index (a large
/// window's chart reads a fraction of the file, its numbers decoded straight from
/// their bytes), else streamed whole, skipping the rest.
fn read(path: &Path, plot: Option<PlotId>) -> anyhow::Result<Blob> {
    let choose = |header: &Header| {
        Ok(match plot {
            Some(plot) => parts(plot, header),
            None => Parts::all(),
        })
    };
    let mut file = File::open(path).context("open it")?;
    let size = file.metadata().context("read its size")?.len();
    let tail_at = size.saturating_sub(TAIL_BYTES);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(tail_at))
        .and_then(|_| file.read_to_end(&mut tail))
        .context("read its tail")?;
    let blob = match Index::from_tail(&tail, size).context("find its index")? {
        Some(index) => Blob::decode_sections(&index, choose, |range| {
            let mut section = File::open(path).map_err(BlobError::Read)?;
            section
                .seek(SeekFrom::Start(range.start))
                .map_err(BlobError::Read)?;
            Ok(BufReader::new(section).take(range.end - range.start))
        }),
        None => {
            file.rewind().context("read it from the start")?;
            Blob::decode_parts(BufReader::new(file), choose)
        }
    };
    Ok(blob.context("decode it")?.0)
}

/// Renders `plot` and writes it to `out`.
fn one(blob: &Blob, plot: PlotId, args: &RenderArgs, out: &Path) -> anyhow::Result<()> {
    // As for a request: a side given alone keeps the chart's default aspect ratio.
    let (width, height) = plot.size_for(args.width, args.height);
    let options = RenderOptions {
        width,
        height,
        format: args.format,
        zone: args.tz.clone(),
    };
    let started = Instant::now();
    let image = render(blob, plot, &options).with_context(|| format!("render chart {plot}"))?;
    std::fs::write(out, &image).with_context(|| format!("write {}", out.display()))?;
    tracing::info!(
        %plot,
        out = %out.display(),
        bytes = image.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "chart written"
    );
    Ok(())
}
