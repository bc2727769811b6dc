#![allow(missing_docs, dead_code, unreachable_pub)]
#[path = "../tests/charts/helpers.rs"]
mod helpers;
use waveplot_plotter::{RenderOptions, render};
use waveplot_protocol::PlotId;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let dir = &args[2];
    std::fs::create_dir_all(dir).unwrap();
    let blob = if n == 0 {
        waveplot_protocol::Blob::decode(&std::fs::read(&args[3]).unwrap()).unwrap()
    } else {
        helpers::Synth::new(n).blob(helpers::btc_like)
    };
    for plot in PlotId::ALL {
        let t = std::time::Instant::now();
        let b = render(&blob, plot, &RenderOptions::for_plot(plot)).unwrap();
        println!("{plot} {:?} {}", t.elapsed(), b.len());
        std::fs::write(format!("{dir}/{plot}.png"), b).unwrap();
    }
}
