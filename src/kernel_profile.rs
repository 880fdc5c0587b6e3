//! Kernel launches per training batch and each kernel's share of GPU time (`digit-lab bench
//! --profile`), from CubeCL's own profiler (`CUBECL_DEBUG_OPTION=profile-medium`), which logs one
//! `| time | Kernel_hash` line per launch. The profiler waits for every kernel, so the images
//! per second measured with it on are lower than without.

use std::collections::HashMap;
use std::path::PathBuf;

/// The profiler's log, switched on for this process.
pub struct KernelLog {
    path: PathBuf,
}

impl KernelLog {
    /// Turn CubeCL's profiler on. Call before the GPU is opened (CubeCL reads its settings once).
    pub fn start() -> Self {
        let path =
            std::env::temp_dir().join(format!("digit-lab-profile-{}.log", std::process::id()));
        // SAFETY: called at the start of `bench`, before the devices (and any thread reading
        // the environment) start.
        unsafe {
            std::env::set_var("CUBECL_DEBUG_LOG", &path);
            std::env::set_var("CUBECL_DEBUG_OPTION", "profile-medium");
        }
        KernelLog { path }
    }

    /// Launches and seconds by kernel family, logged so far.
    pub fn tally(&self) -> Tally {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut kernels: HashMap<String, (usize, f64)> = HashMap::new();
        for (seconds, name) in text.lines().filter_map(parse_line) {
            let entry = kernels.entry(name).or_default();
            entry.0 += 1;
            entry.1 += seconds;
        }
        Tally { kernels }
    }
}

impl Drop for KernelLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `| 1.297206ms | FullKernel_a1aca090` → (seconds, "FullKernel").
fn parse_line(line: &str) -> Option<(f64, String)> {
    let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
    let (time, name) = (cells.next()?, cells.next()?.split_whitespace().next()?);
    let split = time.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (value, unit) = time.split_at(split);
    let scale = match unit {
        "ns" => 1e-9,
        "µs" | "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return None,
    };
    let family = match name.rsplit_once('_') {
        Some((family, hash)) if hash.len() >= 6 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            family
        }
        _ => name,
    };
    Some((value.parse::<f64>().ok()? * scale, family.to_string()))
}

/// Launches and GPU seconds by kernel family.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    kernels: HashMap<String, (usize, f64)>,
}

impl Tally {
    /// What was logged after `earlier`.
    pub fn since(&self, earlier: &Tally) -> Tally {
        let kernels = self
            .kernels
            .iter()
            .filter_map(|(name, &(n, t))| {
                let (n0, t0) = earlier.kernels.get(name).copied().unwrap_or_default();
                (n > n0).then(|| (name.clone(), (n - n0, (t - t0).max(0.0))))
            })
            .collect();
        Tally { kernels }
    }

    /// Launches and GPU time per batch, then the `top` kernels by time.
    pub fn report(&self, batches: usize, top: usize) -> String {
        let per = batches.max(1) as f64;
        let launches: usize = self.kernels.values().map(|k| k.0).sum();
        let seconds: f64 = self.kernels.values().map(|k| k.1).sum();
        let mut rows: Vec<_> = self.kernels.iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        let mut out = format!(
            "  {:.0} kernel launches and {:.1} ms of GPU time per training batch\n",
            launches as f64 / per,
            seconds / per * 1e3
        );
        for (name, (n, t)) in rows.into_iter().take(top) {
            out += &format!(
                "  {:5.1}%  {:6.1} launches  {name}\n",
                t / seconds.max(1e-12) * 100.0,
                *n as f64 / per
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiler_lines_are_summed_by_kernel_family() {
        let lines = "| 1.5ms | ConvForward_a1aca090\n| 500µs | ConvForward_a1aca090\nnoise\n\
                     | 2s | AdamKernel_0011ff22 extra\n| 10ns | Plain\n";
        let parsed: Vec<_> = lines.lines().filter_map(parse_line).collect();
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[0], (1.5e-3, "ConvForward".to_string()));
        assert_eq!(parsed[2], (2.0, "AdamKernel".to_string()));
        assert_eq!(parsed[3].1, "Plain");
        let mut later = Tally::default();
        let mut earlier = Tally::default();
        for (seconds, name) in parsed {
            let entry = later.kernels.entry(name).or_default();
            entry.0 += 1;
            entry.1 += seconds;
        }
        earlier.kernels.insert("ConvForward".into(), (1, 1.5e-3));
        let report = later.since(&earlier).report(1, 2);
        assert!(
            report.starts_with("  3 kernel launches and 2000.5 ms"),
            "{report}"
        );
        assert!(report.contains("AdamKernel"), "{report}");
        assert!(!report.contains("Plain"), "only the top 2: {report}");
    }
}
