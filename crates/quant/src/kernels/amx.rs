//! Intel AMX (Sapphire Rapids and later): eight tile registers of 16 rows x 64 bytes, and
//! matrix instructions on them — `tdpbf16ps` (a 16 x 32 bf16 tile times a 16 (pairs) x 16
//! (columns) tile into a 16 x 16 f32 tile, 8,192 products) and `tdpbusd` (a 16 x 64 u8 tile
//! times a 16 (groups of 4) x 16 s8 tile into 16 x 16 i32, 16,384 products) — sixteen times
//! what one AVX-512 instruction does.
//!
//! One kernel serves both: a 32 x 32 tile of C in four accumulator tiles (`tmm0..3`), from
//! two A tiles (rows 0-15 and 16-31, `tmm4..5`) and two B tiles (columns 0-15 and 16-31,
//! `tmm6..7`) per 64 bytes of k. The BF16 and INT8 panels are already the B tiles' layout (a
//! row per pair or group of four, 32 columns of 4 bytes), so they are read in place; the
//! families pad `k` to 64 bytes (`kalign`), and the activation rows come padded to whole
//! 32-row tiles, since a tile load reads all 16 rows.
//!
//! **Tile state.** The configuration (`ldtilecfg`: every tile 16 rows x 64 bytes) is per
//! thread; each thread loads it once and keeps it (re-loading it on every kernel call cost
//! about 10% of a BF16 MiniLM pass). No other code in the process uses the tiles. Linux hands
//! out the tile registers' 8 KiB of state only on request
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), made once by
//! `core_tensor::cpu::features`: the families are available when the CPU has AMX-TILE and the
//! operation's AMX feature, the OS enables the tile state (XCR0 bits 17 and 18) and that
//! request succeeds.
//!
//! **Numbers.** `tdpbusd` sums integers exactly, so the INT8 family is bit-identical to the
//! scalar reference. Intel's pseudocode for `tdpbf16ps` adds, per pair, the even product and
//! then the odd one, each rounded; the hardware sums its own way (measured: not bit-equal to
//! that order on Sapphire Rapids), so the BF16 family is held to the rounding bound of any
//! order (see [`super::bf16`]), and its emulated twin follows the pseudocode exactly.

/// `tdpbf16ps`: bf16 pairs into f32.
pub(crate) const BF16: u8 = 0;
/// `tdpbusd`: u8 x s8 groups of four into i32.
pub(crate) const U8S8: u8 = 1;

/// The tile operations the kernel is written in: the instructions ([`Native`]) or arrays
/// (the tests' twin).
pub(crate) trait Tiles {
    /// Configures every tile as 16 rows of 64 bytes.
    fn configure(&mut self);
    /// Zeroes the accumulators (tiles 0-3).
    fn zero(&mut self);
    /// Tile `T` := 16 rows of 64 bytes at `p`, rows `stride` bytes apart.
    ///
    /// # Safety
    /// The 16 rows must be readable.
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize);
    /// `tmm[C] += tmm[A] . tmm[B]` with operation `OP` ([`BF16`] or [`U8S8`]).
    fn dot<const OP: u8, const C: usize, const A: usize, const B: usize>(&mut self);
    /// 16 rows of 64 bytes of tile `T` to `p`, rows `stride` bytes apart.
    ///
    /// # Safety
    /// The 16 rows must be writable.
    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize);
}

/// The 32 x 32 kernel on any [`Tiles`]: `steps` chunks of 64 bytes of k, A rows `lda` bytes
/// apart (32 of them readable), the packed panel at `b` (rows of 128 bytes: 32 columns x 4
/// bytes), the 32 x 32 tile of 4-byte sums to `out` (rows of 128 bytes).
///
/// # Safety
/// A must hold 32 rows of `64 steps` bytes, the panel `16 steps` rows of 128 bytes, `out`
/// 32 x 128 writable bytes.
pub(crate) unsafe fn kernel_32x32<T: Tiles, const OP: u8>(
    t: &mut T,
    steps: usize,
    a: *const u8,
    lda: usize,
    b: *const u8,
    out: *mut u8,
) {
    const SB: usize = 128;
    t.configure();
    t.zero();
    for s in 0..steps {
        // SAFETY: the function's contract.
        unsafe {
            t.load::<4>(a.add(64 * s), lda);
            t.load::<5>(a.add(16 * lda + 64 * s), lda);
            t.load::<6>(b.add(16 * SB * s), SB);
            t.load::<7>(b.add(16 * SB * s + 64), SB);
        }
        t.dot::<OP, 0, 4, 6>();
        t.dot::<OP, 1, 4, 7>();
        t.dot::<OP, 2, 5, 6>();
        t.dot::<OP, 3, 5, 7>();
    }
    // SAFETY: `out` holds 32 rows of 128 bytes.
    unsafe {
        t.store::<0>(out, SB);
        t.store::<1>(out.add(64), SB);
        t.store::<2>(out.add(16 * SB), SB);
        t.store::<3>(out.add(16 * SB + 64), SB);
    }
}

/// The instructions.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Native;

/// `ldtilecfg`'s operand: palette 1, every tile 16 rows x 64 bytes.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Config([u8; 64]);

#[cfg(target_arch = "x86_64")]
static CONFIG: Config = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row (u16, little-endian)
        c[48 + t] = 16; // rows
        t += 1;
    }
    Config(c)
};

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Whether this thread has loaded [`CONFIG`].
    static CONFIGURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A `match` on const parameters whose arms are instructions naming tiles literally (tile
/// registers cannot be operands of `asm!`).
#[cfg(target_arch = "x86_64")]
macro_rules! tiles {
    ($t:expr, $($pat:pat => $insn:literal),+ $(,)?) => {
        match $t {
            $($pat => std::arch::asm!($insn, options(nostack, nomem, preserves_flags)),)+
            _ => unreachable!("tiles {:?}", $t),
        }
    };
    ($t:expr, $p:expr, $s:expr, $($pat:pat => $insn:literal),+ $(,)?) => {
        match $t {
            $($pat => std::arch::asm!($insn, p = in(reg) $p, s = in(reg) $s, options(nostack, preserves_flags)),)+
            _ => unreachable!("tile {:?}", $t),
        }
    };
}

#[cfg(target_arch = "x86_64")]
impl Tiles for Native {
    fn configure(&mut self) {
        if CONFIGURED.get() {
            return;
        }
        // SAFETY: the AMX families run only where the tiles are usable (`usable_*`); CONFIG
        // is a valid palette-1 configuration of 64 aligned bytes.
        unsafe {
            std::arch::asm!("ldtilecfg [{}]", in(reg) &CONFIG.0, options(nostack, readonly, preserves_flags))
        };
        CONFIGURED.set(true);
    }
    fn zero(&mut self) {
        // SAFETY: tiles configured.
        unsafe {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem, preserves_flags)
            )
        };
    }
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
        // SAFETY: the caller's contract (16 readable rows); tiles configured.
        unsafe {
            tiles!(T, p, stride,
                4 => "tileloadd tmm4, [{p} + {s} * 1]",
                5 => "tileloadd tmm5, [{p} + {s} * 1]",
                6 => "tileloadd tmm6, [{p} + {s} * 1]",
                7 => "tileloadd tmm7, [{p} + {s} * 1]",
            )
        }
    }
    fn dot<const OP: u8, const C: usize, const A: usize, const B: usize>(&mut self) {
        // SAFETY: tiles configured and loaded.
        unsafe {
            tiles!((OP, C, A, B),
                (BF16, 0, 4, 6) => "tdpbf16ps tmm0, tmm4, tmm6",
                (BF16, 1, 4, 7) => "tdpbf16ps tmm1, tmm4, tmm7",
                (BF16, 2, 5, 6) => "tdpbf16ps tmm2, tmm5, tmm6",
                (BF16, 3, 5, 7) => "tdpbf16ps tmm3, tmm5, tmm7",
                (U8S8, 0, 4, 6) => "tdpbusd tmm0, tmm4, tmm6",
                (U8S8, 1, 4, 7) => "tdpbusd tmm1, tmm4, tmm7",
                (U8S8, 2, 5, 6) => "tdpbusd tmm2, tmm5, tmm6",
                (U8S8, 3, 5, 7) => "tdpbusd tmm3, tmm5, tmm7",
            )
        }
    }
    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize) {
        // SAFETY: the caller's contract (16 writable rows); tiles configured.
        unsafe {
            tiles!(T, p, stride,
                0 => "tilestored [{p} + {s} * 1], tmm0",
                1 => "tilestored [{p} + {s} * 1], tmm1",
                2 => "tilestored [{p} + {s} * 1], tmm2",
                3 => "tilestored [{p} + {s} * 1], tmm3",
            )
        }
    }
}

/// Tiles as arrays: `tdpbf16ps` in the order of Intel's pseudocode (per pair, the even
/// product and then the odd one, each addition rounded), `tdpbusd` exactly (wrapping i32).
#[cfg(test)]
pub(crate) struct Emulated([[u8; 1024]; 8]);

#[cfg(test)]
impl Default for Emulated {
    fn default() -> Emulated {
        Emulated([[0; 1024]; 8])
    }
}

#[cfg(test)]
impl Emulated {
    fn bytes<const N: usize>(&self, t: usize, row: usize, at: usize) -> [u8; N] {
        std::array::from_fn(|i| self.0[t][row * 64 + at + i])
    }
}

#[cfg(test)]
impl Tiles for Emulated {
    fn configure(&mut self) {}
    fn zero(&mut self) {
        self.0[..4].iter_mut().for_each(|t| t.fill(0));
    }
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
        for r in 0..16 {
            // SAFETY: the caller's contract.
            let row = unsafe { std::slice::from_raw_parts(p.add(r * stride), 64) };
            self.0[T][r * 64..r * 64 + 64].copy_from_slice(row);
        }
    }
    fn dot<const OP: u8, const C: usize, const A: usize, const B: usize>(&mut self) {
        use super::bf16::from_bf16;
        for m in 0..16 {
            for n in 0..16 {
                let acc = self.bytes::<4>(C, m, 4 * n);
                let sum = if OP == BF16 {
                    let mut acc = f32::from_le_bytes(acc);
                    let a = |i: usize| from_bf16(u16::from_le_bytes(self.bytes::<2>(A, m, 2 * i)));
                    let b = |k: usize, i: usize| {
                        from_bf16(u16::from_le_bytes(self.bytes::<2>(B, k, 2 * i)))
                    };
                    for k in 0..16 {
                        acc += a(2 * k) * b(k, 2 * n);
                        acc += a(2 * k + 1) * b(k, 2 * n + 1);
                    }
                    acc.to_le_bytes()
                } else {
                    let mut acc = i32::from_le_bytes(acc);
                    for k in 0..16 {
                        for t in 0..4 {
                            let a = self.0[A][m * 64 + 4 * k + t] as i32;
                            let b = self.0[B][k * 64 + 4 * n + t] as i8 as i32;
                            acc = acc.wrapping_add(a * b);
                        }
                    }
                    acc.to_le_bytes()
                };
                self.0[C][m * 64 + 4 * n..m * 64 + 4 * n + 4].copy_from_slice(&sum);
            }
        }
    }
    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize) {
        for r in 0..16 {
            // SAFETY: the caller's contract.
            let row = unsafe { std::slice::from_raw_parts_mut(p.add(r * stride), 64) };
            row.copy_from_slice(&self.0[T][r * 64..r * 64 + 64]);
        }
    }
}
