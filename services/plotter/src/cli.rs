//! `plotter render`: reads a blob file, renders one chart or all six, writes the files.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use waveplot_plotter::{RenderOptions, parts, render};
use waveplot_protocol::blob::Parts;
use waveplot_protocol::{Blob, PlotId};

use crate::config::RenderArgs;

/// Runs `plotter render` with `args`.
pub(crate) fn render_command(args: &RenderArgs) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.blob)
        .with_context(|| format!("open blob {}", args.blob.display()))?;
    // One chart reads only what it draws; all six read everything.
    let (blob, _) = Blob::decode_parts(std::io::BufReader::new(file), |header| {
        Ok(match args.plot {
            Some(plot) => parts(plot, header),
            None => Parts::all(),
        })
    })
    .with_context(|| format!("decode blob {}", args.blob.display()))?;
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
