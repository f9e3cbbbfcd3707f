//! The generated dSprites against its definition: the factor grid and its counts, image
//! area growing with scale, the square's 90° symmetry, sprites centred where their factors
//! put them, seeded sampling (free and with a factor held fixed), and pinned bytes.

use std::f64::consts::PI;

use vae::dsprites::{render, DSprites, Shape, FACTOR_SIZES, SIZE};

fn on(img: &[u8]) -> usize {
    img.iter().map(|&p| p as usize).sum()
}

/// Centroid (column, row) of the on pixels.
fn centroid(img: &[u8]) -> (f64, f64) {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for (k, &p) in img.iter().enumerate() {
        if p == 1 {
            sx += (k % SIZE) as f64 + 0.5;
            sy += (k / SIZE) as f64 + 0.5;
            n += 1.0;
        }
    }
    (sx / n, sy / n)
}

#[test]
fn the_factor_grid_and_its_counts() {
    let d = DSprites;
    assert_eq!(DSprites::LEN, 737_280);
    let mut counts: Vec<Vec<usize>> = FACTOR_SIZES.iter().map(|&n| vec![0; n]).collect();
    for i in 0..DSprites::LEN {
        let f = d.factors(i);
        for k in 0..5 {
            counts[k][f.index[k]] += 1;
        }
        if i % 9973 == 0 {
            assert_eq!(d.index_of(f.index), i);
        }
    }
    for (k, c) in counts.iter().enumerate() {
        assert!(
            c.iter().all(|&n| n == DSprites::LEN / FACTOR_SIZES[k]),
            "factor {k}: {c:?}"
        );
    }
    let first = d.factors(0);
    let last = d.factors(DSprites::LEN - 1);
    assert_eq!(first.index, [0; 5]);
    assert_eq!(last.index, [2, 5, 39, 31, 31]);
    assert_eq!((first.scale, last.scale), (0.5, 1.0));
    assert_eq!((first.orientation, last.orientation), (0.0, 2.0 * PI));
    assert_eq!((first.x, last.y), (0.0, 1.0));
    assert_eq!(last.shape, Shape::Heart);
}

#[test]
fn area_grows_with_scale_for_every_shape() {
    for shape in [Shape::Square, Shape::Ellipse, Shape::Heart] {
        for theta in [0.0, 0.7, 2.0] {
            let areas: Vec<usize> = (0..6)
                .map(|k| on(&render(shape, 0.5 + 0.1 * k as f64, theta, 0.4, 0.6)))
                .collect();
            assert!(
                areas.windows(2).all(|w| w[0] < w[1]),
                "{shape:?} at {theta}: {areas:?}"
            );
            // Square area is (2r)^2 = 400 s^2 pixels, up to the pixel grid.
            if shape == Shape::Square && theta == 0.0 {
                assert!((areas[5] as f64 - 400.0).abs() < 45.0, "{areas:?}");
            }
        }
    }
}

#[test]
fn the_square_looks_the_same_after_a_quarter_turn_and_the_ellipse_does_not() {
    for theta in [0.0, 0.3, 1.1] {
        let a = render(Shape::Square, 1.0, theta, 0.5, 0.5);
        let b = render(Shape::Square, 1.0, theta + PI / 2.0, 0.5, 0.5);
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        // Only pixels whose centres lie on the boundary within rounding may flip.
        assert!(
            differ * 100 <= on(&a),
            "{differ} of {} pixels differ at {theta}",
            on(&a)
        );
        let e = render(Shape::Ellipse, 1.0, theta, 0.5, 0.5);
        let f = render(Shape::Ellipse, 1.0, theta + PI / 2.0, 0.5, 0.5);
        assert!(e.iter().zip(&f).filter(|(x, y)| x != y).count() * 4 > on(&e));
    }
}

#[test]
fn sprites_sit_where_their_factors_say() {
    let d = DSprites;
    for (shape, tolerance) in [(0, 0.5), (1, 0.5), (2, 1.5)] {
        for (o, x, y) in [(0, 0, 0), (13, 31, 5), (27, 16, 31), (39, 31, 31)] {
            let i = d.index_of([shape, 5, o, x, y]);
            let f = d.factors(i);
            let img = d.image(i);
            let (cx, cy) = centroid(&img);
            let (wx, wy) = f.centre();
            assert!(
                (cx - wx).abs() <= tolerance && (cy - wy).abs() <= tolerance,
                "{:?} at {:?}: centroid ({cx:.2}, {cy:.2}), centre ({wx}, {wy})",
                f.shape,
                f.index
            );
            // Nothing touches the canvas edge: every sprite is whole.
            let edge = (0..SIZE).any(|k| {
                img[k] + img[(SIZE - 1) * SIZE + k] + img[k * SIZE] + img[k * SIZE + SIZE - 1] > 0
            });
            assert!(!edge, "{:?} touches the edge", f.index);
        }
    }
}

#[test]
fn sampling_is_seeded_and_holds_a_factor_fixed() {
    let d = DSprites;
    assert_eq!(d.sample(50, 3), d.sample(50, 3));
    assert_ne!(d.sample(50, 3), d.sample(50, 4));
    for (factor, &size) in FACTOR_SIZES.iter().enumerate() {
        let value = size - 1;
        let picks = d.sample_fixed(factor, value, 40, 9);
        assert!(picks.iter().all(|&i| d.factors(i).index[factor] == value));
        // The other factors vary.
        let other = (factor + 1) % 5;
        let seen: std::collections::BTreeSet<usize> =
            picks.iter().map(|&i| d.factors(i).index[other]).collect();
        assert!(seen.len() > 1);
    }
    let x = d.batch(&[0, 1, 2]);
    assert_eq!(x.shape(), &[3, 4096]);
    assert!(x.to_vec().iter().all(|&v| v == 0.0 || v == 1.0));
}

#[test]
fn the_bytes_are_pinned() {
    // FNV-1a over 64 sampled images: the geometry and the sampling are part of the
    // reproducibility contract (libm's sine and cosine make them machine-independent). A
    // deliberate change of either changes this number.
    let d = DSprites;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in d.sample(64, 2017) {
        for b in d.image(i) {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    assert_eq!(
        h, 0x8a11_ad85_76d3_7aa0,
        "update the pinned hash only for a deliberate change: {h:#x}"
    );
}
