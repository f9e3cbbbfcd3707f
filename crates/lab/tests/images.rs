//! Report pictures: the PNG a report writes decodes to the image's pixels (scaled), the
//! HTML embeds it, and an image survives `data.json` (base64) unchanged.

use lab::image::GrayImage;
use lab::report::{write_report, ImagePlot, Plot, ReportMeta, Section};

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn ramp(w: usize, h: usize) -> GrayImage {
    let v: Vec<f32> = (0..w * h).map(|i| i as f32 / (w * h - 1) as f32).collect();
    GrayImage::from_unit(w, h, &v).unwrap()
}

#[test]
fn png_round_trip_and_upscale() {
    let img = ramp(7, 3);
    let (w, h, px) = decode(&img.to_png());
    assert_eq!((w, h), (7, 3));
    assert_eq!(px, img.pixels);
    let big = img.upscale(3);
    assert_eq!((big.width, big.height), (21, 9));
    for y in 0..9 {
        for x in 0..21 {
            assert_eq!(big.pixels[y * 21 + x], img.pixels[(y / 3) * 7 + x / 3]);
        }
    }
}

#[test]
fn grid_places_tiles_with_gaps() {
    let (a, b) = (GrayImage::filled(2, 2, 10), GrayImage::filled(2, 1, 20));
    let g = GrayImage::grid(&[vec![a.clone(), b], vec![a]], 1, 255);
    assert_eq!((g.width, g.height), (5, 5));
    #[rustfmt::skip]
    let want = [
        10, 10, 255, 20, 20,
        10, 10, 255, 255, 255,
        255, 255, 255, 255, 255,
        10, 10, 255, 255, 255,
        10, 10, 255, 255, 255,
    ];
    assert_eq!(g.pixels, want);
    assert!(GrayImage::from_unit(2, 2, &[0.0; 3]).is_err());
}

#[test]
fn json_round_trip_and_damaged_sizes() {
    let img = ramp(5, 4);
    let json = serde_json::to_string(&img).unwrap();
    assert!(json.len() < 100, "base64, not a list of numbers: {json}");
    assert_eq!(serde_json::from_str::<GrayImage>(&json).unwrap(), img);
    let lying = json.replace("\"width\":5", "\"width\":6");
    let err = serde_json::from_str::<GrayImage>(&lying).unwrap_err();
    assert!(
        err.to_string().contains("6x4 image holds 20 pixels"),
        "{err}"
    );
}

#[test]
fn report_writes_and_embeds_the_png() {
    let dir = std::env::temp_dir().join(format!("lab-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let img = ramp(8, 8);
    let sections = [Section {
        title: "Pictures".into(),
        text: String::new(),
        table: None,
        plots: vec![Plot::Image(ImagePlot {
            title: "a ramp".into(),
            image: img.clone(),
            scale: 2,
            caption: "left to right, top to bottom: darker to lighter".into(),
        })],
    }];
    let meta = ReportMeta {
        name: "t".into(),
        description: "d".into(),
        kind: "k".into(),
        counts: (1, 0, 0, 0),
        environment: String::new(),
        unreadable: vec![],
    };
    write_report(&dir, &meta, &[], &sections).unwrap();
    let (w, h, px) = decode(&std::fs::read(dir.join("plots/01-a-ramp.png")).unwrap());
    assert_eq!((w, h), (16, 16));
    assert_eq!(px, img.upscale(2).pixels);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<img alt=\"a ramp\""));
    assert!(html.contains("src=\"data:image/png;base64,iVBOR"));
    assert!(html.contains("<figcaption>left to right"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("![a ramp](plots/01-a-ramp.png)"));
    std::fs::remove_dir_all(&dir).unwrap();
}
