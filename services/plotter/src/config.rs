//! The plotter's configuration: flags with environment twins, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use waveplot_protocol::{ImageFormat, PlotId, TimeZone};
use waveplot_service::ServiceArgs;

/// waveplot plotter: draws one chart for every analysed window announced on the bus.
///
/// Without a subcommand it serves; `render` draws charts from a blob file.
#[derive(Debug, Parser)]
#[command(name = "plotter", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Config {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

/// Where the health endpoint listens unless `HEALTH_ADDR` says otherwise.
pub(crate) const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9102);

/// Settings of the bus service.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Which chart this instance draws (01, 02a, 02b, 03, 04, 05).
    #[arg(long, env = "PLOT_ID")]
    pub(crate) plot_id: Option<PlotId>,
    /// Charts drawn at the same time by this instance.
    #[arg(long, env = "PLOT_CONCURRENCY", default_value_t = 2)]
    pub(crate) concurrency: usize,
    /// MiB the charts drawn at the same time may take together, by estimate; a chart
    /// that needs more is refused with its need named.
    #[arg(long, env = "PLOT_MEMORY", default_value_t = waveplot_plotter::service::DEFAULT_MEMORY_MIB,
        value_parser = clap::value_parser!(u32).range(64..))]
    pub(crate) memory_mib: u32,
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
}

impl ServeArgs {
    /// Where the health endpoint listens.
    pub(crate) fn health_addr(&self) -> SocketAddr {
        self.service.health_addr.unwrap_or(DEFAULT_HEALTH_ADDR)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Draw charts from a blob file: `plotter render --blob a.msgpack --plot 02b --out 02b.png`.
    Render(RenderArgs),
}

/// Arguments of `plotter render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The analysis blob (written by `prepare analyze --out`).
    #[arg(long)]
    pub(crate) blob: PathBuf,
    /// The chart to draw.
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub(crate) plot: Option<PlotId>,
    /// Output file for `--plot`.
    #[arg(long, requires = "plot")]
    pub(crate) out: Option<PathBuf>,
    /// Draw all six charts into `--out-dir`.
    #[arg(long, requires = "out_dir")]
    pub(crate) all: bool,
    /// Output directory for `--all`.
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
    /// Image width in pixels (default per chart; alone, it keeps the chart's aspect ratio).
    #[arg(long)]
    pub(crate) width: Option<u32>,
    /// Image height in pixels (default per chart).
    #[arg(long)]
    pub(crate) height: Option<u32>,
    /// Image format.
    #[arg(long, default_value = "png")]
    pub(crate) format: ImageFormat,
    /// Time zone of the axes and dates: an IANA name such as Europe/Berlin.
    #[arg(long, default_value = "UTC")]
    pub(crate) tz: TimeZone,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_id_comes_from_its_flag_and_is_validated() {
        let c = Config::try_parse_from(["plotter", "--plot-id", "2b"]).unwrap();
        assert_eq!(c.serve.plot_id, Some(PlotId::Bands));
        let e = Config::try_parse_from(["plotter", "--plot-id", "07"]).unwrap_err();
        assert!(e.to_string().contains("01, 02a, 02b, 03, 04, 05"), "{e}");
    }

    #[test]
    fn render_needs_a_plot_or_all() {
        let ok = Config::try_parse_from([
            "plotter",
            "render",
            "--blob",
            "a",
            "--all",
            "--out-dir",
            "d",
        ]);
        assert!(ok.is_ok());
        let e = Config::try_parse_from(["plotter", "render", "--blob", "a"]).unwrap_err();
        assert!(e.to_string().contains("--plot"), "{e}");
    }
}
