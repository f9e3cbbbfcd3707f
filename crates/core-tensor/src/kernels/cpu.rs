//! What this CPU runs, decided in one place for every kernel family of the workspace: the f32
//! GEMM, the element-wise loops compiled per instruction set, the INT8 and BF16 GEMMs.
//!
//! * [`features`] — the instruction-set extensions detected once (CPUID through
//!   `is_x86_feature_detected!`; for AMX also the OS's consent: XCR0's tile bits and Linux's
//!   `arch_prctl(ARCH_REQ_XCOMP_PERM)`, requested once).
//! * [`Isa`] — the tiers a family belongs to, narrowest first: scalar, AVX2, AVX-VNNI,
//!   AVX-512, AMX. [`cap`] is the one override for every family: `GROUNDWORK_ISA=avx2` (or
//!   `scalar`, `avx-vnni`, `avx512`, `amx`) keeps every kernel at or below that tier, to
//!   measure or test a narrower machine's code on a wider one. Unset, nothing is capped.
//! * [`Family`] — a GEMM kernel family (tile, edge kernels for a last partial row tile,
//!   k alignment, tier, detection) and [`choose`], the widest one this CPU runs within the cap.
//!
//! Binaries are built for baseline x86-64 (never `-C target-cpu=native`); everything wider is
//! chosen here at run time, and every family has a portable fallback.

use std::sync::OnceLock;

/// The instruction-set extensions the kernels use, as detected on this machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// AVX2.
    pub avx2: bool,
    /// FMA3.
    pub fma: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 Byte and Word.
    pub avx512bw: bool,
    /// AVX-512 Vector Length.
    pub avx512vl: bool,
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit vectors).
    pub avx512vnni: bool,
    /// AVX512-BF16 (`vdpbf16ps`).
    pub avx512bf16: bool,
    /// AVX-VNNI (`vpdpbusd` on 256-bit vectors, VEX-encoded).
    pub avxvnni: bool,
    /// AMX-INT8 (`tdpbusd`), with the tile state granted to this process.
    pub amx_int8: bool,
    /// AMX-BF16 (`tdpbf16ps`), with the tile state granted to this process.
    pub amx_bf16: bool,
}

/// This machine's [`Features`] (detected on the first call).
pub fn features() -> &'static Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Features {
    use std::arch::is_x86_feature_detected as has;
    let tiles = amx_tiles_permitted();
    Features {
        avx2: has!("avx2"),
        fma: has!("fma"),
        avx512f: has!("avx512f"),
        avx512bw: has!("avx512bw"),
        avx512vl: has!("avx512vl"),
        avx512vnni: has!("avx512vnni"),
        avx512bf16: has!("avx512bf16"),
        avxvnni: has!("avxvnni"),
        // CPUID.7.0:EDX bit 25 AMX-INT8, bit 22 AMX-BF16.
        amx_int8: tiles && cpuid7_edx(25),
        amx_bf16: tiles && cpuid7_edx(22),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Features {
    Features::default()
}

/// CPUID.7.0:EDX bit `bit`.
#[cfg(target_arch = "x86_64")]
fn cpuid7_edx(bit: u32) -> bool {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU.
    let leaf7 = unsafe { std::arch::x86_64::__cpuid_count(7, 0) };
    leaf7.edx & (1 << bit) != 0
}

/// Whether the CPU has AMX-TILE and the OS lets this process use the tile state: XCR0's
/// tile bits (17, 18) set, and Linux's permission, asked for here (once, from [`features`]).
#[cfg(target_arch = "x86_64")]
fn amx_tiles_permitted() -> bool {
    #[cfg(target_os = "linux")]
    {
        // CPUID.7.0:EDX bit 24 AMX-TILE; CPUID.1:ECX bit 27 OSXSAVE.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU.
        let leaf1 = unsafe { std::arch::x86_64::__cpuid(1) };
        if !cpuid7_edx(24) || leaf1.ecx & (1 << 27) == 0 {
            return false;
        }
        let (lo, hi): (u32, u32);
        // SAFETY: xgetbv with ECX = 0 is valid when OSXSAVE is set (checked above).
        unsafe {
            std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nostack, nomem, preserves_flags));
        }
        let xcr0 = (hi as u64) << 32 | lo as u64;
        if xcr0 & (0b11 << 17) != 0b11 << 17 {
            return false;
        }
        const SYS_ARCH_PRCTL: isize = 158;
        const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
        const XFEATURE_XTILEDATA: usize = 18;
        let ret: isize;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) only grants this process
        // the tile state; the syscall instruction clobbers rcx and r11.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack)
            );
        }
        ret == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Instruction-set tiers, narrowest first: each kernel family belongs to one, and
/// [`cap`] keeps every family at or below a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// No SIMD beyond the baseline (the portable fallbacks, and `matrixmultiply` for f32).
    Scalar,
    /// AVX2 (+ FMA for floats); INT8 without VNNI (7-bit activations).
    Avx2,
    /// AVX-VNNI: INT8 dot products on 256-bit vectors.
    AvxVnni,
    /// AVX-512 (F/BW/VL; VNNI for INT8, BF16 for BF16).
    Avx512,
    /// AMX tiles (INT8, BF16).
    Amx,
}

impl Isa {
    /// Every tier, narrowest first.
    pub const ALL: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Amx];

    /// The name `GROUNDWORK_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avx-vnni",
            Isa::Avx512 => "avx512",
            Isa::Amx => "amx",
        }
    }

    /// The tier named `name` (as [`Isa::name`] writes it).
    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// The widest tier kernels may use: `GROUNDWORK_ISA` (read once), else [`Isa::Amx`] (no cap).
/// An unknown value is reported on stderr once and ignored.
pub fn cap() -> Isa {
    static CAP: OnceLock<Isa> = OnceLock::new();
    *CAP.get_or_init(|| match std::env::var("GROUNDWORK_ISA") {
        Ok(v) if !v.is_empty() => Isa::parse(&v).unwrap_or_else(|| {
            let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
            eprintln!(
                "warning: GROUNDWORK_ISA={v} is not one of {}; ignored",
                names.join(", ")
            );
            Isa::Amx
        }),
        _ => Isa::Amx,
    })
}

/// Whether code of tier `isa` that needs what `present` says may run here: within [`cap`]
/// and present.
pub fn allowed(isa: Isa, present: bool) -> bool {
    isa <= cap() && present
}

/// Which compiled version of a [`multiversion!`](crate::multiversion) loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Baseline x86-64 (SSE2) or another architecture.
    Generic,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 F, BW and VL.
    Avx512,
}

/// The level `multiversion!` loops run at: the widest this CPU supports within
/// `GROUNDWORK_ISA` ([`cap`]: `scalar` gives the baseline, `avx2` and `avx-vnni` AVX2).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match cap() {
            Isa::Scalar => Level::Generic,
            Isa::Avx2 | Isa::AvxVnni => Level::Avx2,
            Isa::Avx512 | Isa::Amx => Level::Avx512,
        };
        detected_level().min(cap)
    })
}

/// The widest level the CPU supports, whatever the cap (tests run every one it has).
pub fn detected_level() -> Level {
    let f = features();
    if f.avx512f && f.avx512bw && f.avx512vl {
        Level::Avx512
    } else if f.avx2 && f.fma {
        Level::Avx2
    } else {
        Level::Generic
    }
}

/// A family of GEMM micro-kernels of type `K`: one tile shape, shorter edge kernels for a last
/// partial row tile, the alignment `k` is padded to, its tier and its detection.
#[derive(Clone, Copy)]
pub struct Family<K: 'static> {
    /// Name for reports (`avx512vnni-12x32`).
    pub name: &'static str,
    /// The tier [`cap`] compares.
    pub isa: Isa,
    /// Rows of the full tile.
    pub mr: usize,
    /// Columns per packed panel.
    pub nr: usize,
    /// `k` is padded to a multiple of this.
    pub kalign: usize,
    /// The full-tile kernel.
    pub kernel: K,
    /// `(MR', kernel)` by increasing MR' for a last, partial row tile.
    pub edges: &'static [(usize, K)],
    /// Whether this CPU runs the family (read [`features`]).
    pub detect: fn() -> bool,
}

impl<K> std::fmt::Debug for Family<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Family({})", self.name)
    }
}

impl<K: Copy> Family<K> {
    /// Whether this CPU runs the family (whatever the cap).
    pub fn available(&self) -> bool {
        (self.detect)()
    }

    /// The kernel for a row tile of `rows` rows: the shortest edge kernel at least that tall
    /// when the tile is partial, else the full one; with its height.
    pub fn tile_for(&self, rows: usize) -> (usize, K) {
        tile_kernel(self.edges, self.mr, self.kernel, rows)
    }
}

/// The kernel for a row tile of `rows` rows: the shortest of `edges` (`(MR', kernel)` by
/// increasing MR') at least that tall when the tile is partial (`rows < mr`), else `(mr,
/// full)`.
pub fn tile_kernel<K: Copy>(edges: &[(usize, K)], mr: usize, full: K, rows: usize) -> (usize, K) {
    edges
        .iter()
        .find(|(h, _)| *h >= rows)
        .copied()
        .filter(|_| rows < mr)
        .unwrap_or((mr, full))
}

/// The first of `widest_first` this CPU runs within [`cap`], else `fallback`.
pub fn choose<K: Copy>(widest_first: &[Family<K>], fallback: Family<K>) -> Family<K> {
    widest_first
        .iter()
        .find(|f| allowed(f.isa, f.available()))
        .copied()
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_ordered_and_named_both_ways() {
        for w in Isa::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for i in Isa::ALL {
            assert_eq!(Isa::parse(i.name()), Some(i));
        }
        assert_eq!(Isa::parse("avx512vnni"), None);
    }

    #[test]
    fn a_partial_row_tile_takes_the_shortest_edge_kernel_that_covers_it() {
        let edges = [(1, 'a'), (2, 'b'), (4, 'c')];
        assert_eq!(tile_kernel(&edges, 8, 'f', 1), (1, 'a'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 3), (4, 'c'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 5), (8, 'f'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 8), (8, 'f'));
        assert_eq!(tile_kernel(&[], 32, 'f', 3), (32, 'f'));
    }

    #[test]
    fn the_widest_family_the_cpu_runs_is_chosen() {
        let family = |name, isa, detect: fn() -> bool| Family {
            name,
            isa,
            mr: 1,
            nr: 1,
            kalign: 1,
            kernel: 0u8,
            edges: &[],
            detect,
        };
        // Scalar-tier families: within any cap, so only their detection decides.
        let wide = family("wide", Isa::Scalar, || false);
        let narrow = family("narrow", Isa::Scalar, || true);
        let scalar = family("scalar", Isa::Scalar, || true);
        assert_eq!(choose(&[wide, narrow], scalar).name, "narrow");
        assert_eq!(choose(&[wide], scalar).name, "scalar");
        // The cap applies (a tier above it is never chosen, whatever the CPU).
        let beyond = Isa::ALL.into_iter().find(|i| *i > cap());
        if let Some(isa) = beyond {
            assert_eq!(
                choose(&[family("capped", isa, || true)], scalar).name,
                "scalar"
            );
        }
    }
}
