//! The procedural renderer: shapes as signed distance functions, textures in
//! object coordinates, palettes, and four rendering styles.
//!
//! A class is a [`Factors`] triple (shape × texture × palette).
//! Each image draws its own pose, scale, position, texture frequency and
//! phase, colour jitter and clutter from a per-image RNG, so classes vary
//! like object categories do, and a style changes the look of the same
//! class the way DomainNet's domains do.

use std::f32::consts::PI;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Shapes, as signed distance functions on object coordinates (radius ≈ 1).
pub const SHAPES: [&str; 10] = [
    "circle", "square", "triangle", "diamond", "cross", "ring", "hexagon", "star", "crescent",
    "capsule",
];
/// Textures, evaluated in object coordinates so they turn with the object.
pub const TEXTURES: [&str; 8] = [
    "plain", "hstripes", "vstripes", "diagonal", "checker", "dots", "rings", "grid",
];
/// Palettes: the two colours a texture alternates between.
pub const PALETTES: [(&str, [f32; 3], [f32; 3]); 8] = [
    ("red-yellow", [0.85, 0.15, 0.10], [0.95, 0.85, 0.20]),
    ("blue-white", [0.15, 0.30, 0.85], [0.95, 0.95, 0.95]),
    ("green-black", [0.10, 0.60, 0.20], [0.08, 0.08, 0.08]),
    ("purple-orange", [0.55, 0.20, 0.70], [0.95, 0.55, 0.10]),
    ("cyan-magenta", [0.10, 0.75, 0.80], [0.85, 0.10, 0.60]),
    ("brown-beige", [0.50, 0.30, 0.12], [0.90, 0.82, 0.65]),
    ("navy-lime", [0.10, 0.12, 0.35], [0.65, 0.90, 0.20]),
    ("pink-teal", [0.95, 0.60, 0.70], [0.05, 0.45, 0.45]),
];

/// The latent factors that define a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Factors {
    pub shape: usize,
    pub texture: usize,
    pub palette: usize,
}

impl Factors {
    /// A readable class name, e.g. `red-yellow dots star`.
    pub fn name(&self) -> String {
        format!(
            "{} {} {}",
            PALETTES[self.palette].0, TEXTURES[self.texture], SHAPES[self.shape]
        )
    }
}

/// How an image is drawn; `Photo` is the pre-training and source domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Textured, shaded object on a gradient background with clutter and sensor noise.
    Photo,
    /// Grey pencil outline and faint hatching on paper; no colour at all.
    Sketch,
    /// Flat saturated colours, posterised texture, thick black outline, plain background.
    Cartoon,
    /// Hue-shifted, warped brush texture, soft edges and blotchy background.
    Painting,
}

impl Style {
    /// Every style, photo first.
    pub const ALL: [Style; 4] = [Style::Photo, Style::Sketch, Style::Cartoon, Style::Painting];

    /// The domain name written to manifests.
    pub fn name(&self) -> &'static str {
        match self {
            Style::Photo => "photo",
            Style::Sketch => "sketch",
            Style::Cartoon => "cartoon",
            Style::Painting => "painting",
        }
    }
}

/// Per-image variation, drawn once per image.
struct Pose {
    center: [f32; 2],
    cos: f32,
    sin: f32,
    scale: f32,
    freq: f32,
    phase: [f32; 2],
}

impl Pose {
    fn draw(rng: &mut impl Rng) -> Pose {
        let angle = rng.random_range(0.0..2.0 * PI);
        Pose {
            center: [rng.random_range(-0.22..0.22), rng.random_range(-0.22..0.22)],
            cos: angle.cos(),
            sin: angle.sin(),
            scale: rng.random_range(0.50..0.78),
            freq: rng.random_range(6.5..9.0),
            phase: [
                rng.random_range(0.0..2.0 * PI),
                rng.random_range(0.0..2.0 * PI),
            ],
        }
    }

    /// Image coordinates in [-1, 1]² → object coordinates.
    fn to_object(&self, x: f32, y: f32) -> [f32; 2] {
        let (dx, dy) = (x - self.center[0], y - self.center[1]);
        [
            (self.cos * dx + self.sin * dy) / self.scale,
            (-self.sin * dx + self.cos * dy) / self.scale,
        ]
    }
}

/// What a caption can say about one rendered image beyond its class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scene {
    /// Object scale, 0.50..0.78 of the half-width.
    pub scale: f32,
    /// Object centre in [-1, 1]² image coordinates (x right, y down).
    pub center: [f32; 2],
    /// Clutter strokes behind the object (photo style only).
    pub clutter: usize,
}

/// Renders one `size`×`size` RGB image (row-major, 3 bytes per pixel).
pub fn render(factors: Factors, style: Style, size: u32, rng: &mut impl Rng) -> Vec<u8> {
    render_scene(factors, style, size, rng).0
}

/// [`render`], also returning the image's [`Scene`] (the same pixels for the same RNG).
pub fn render_scene(
    factors: Factors,
    style: Style,
    size: u32,
    rng: &mut impl Rng,
) -> (Vec<u8>, Scene) {
    let pose = Pose::draw(rng);
    let (mut a, mut b) = (PALETTES[factors.palette].1, PALETTES[factors.palette].2);
    let jitter = |c: [f32; 3], rng: &mut dyn rand::RngCore| {
        let gain = rng.random_range(0.88..1.12);
        c.map(|v| (v * gain * rng.random_range(0.94..1.06)).clamp(0.0, 1.0))
    };
    a = jitter(a, rng);
    b = jitter(b, rng);
    let look = Look::draw(style, &mut a, &mut b, rng);
    let clutter = if style == Style::Photo {
        let n = rng.random_range(2..6);
        Clutter::draw(rng, n)
    } else {
        Clutter::default()
    };
    let scene = Scene {
        scale: pose.scale,
        center: pose.center,
        clutter: clutter.strokes.len(),
    };
    let mut out = Vec::with_capacity((size * size * 3) as usize);
    let pixel = 2.0 / size as f32;
    for py in 0..size {
        for px in 0..size {
            let (x, y) = (
                (px as f32 + 0.5) * pixel - 1.0,
                (py as f32 + 0.5) * pixel - 1.0,
            );
            let mut q = pose.to_object(x, y);
            if style == Style::Painting {
                q = [
                    q[0] + 0.12 * (3.0 * q[1] + look.warp).sin(),
                    q[1] + 0.12 * (3.0 * q[0] - look.warp).sin(),
                ];
            }
            let mut bg = look.background(x, y);
            clutter.paint(&mut bg, x, y, pixel);
            let d = sdf(factors.shape, q);
            let t = texture(factors.texture, q, pose.freq, pose.phase);
            let colour = look.shade(style, d, t, q, pixel / pose.scale, a, b, bg);
            let noise = look.noise;
            for c in colour {
                let n = if noise > 0.0 {
                    noise * (rng.random::<f32>() - 0.5) * 3.46
                } else {
                    0.0
                };
                out.push(((c + n).clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
            }
        }
    }
    (out, scene)
}

/// A style's per-image choices: background, noise level, hue shift…
struct Look {
    style: Style,
    bg: [[f32; 3]; 2],
    bg_dir: [f32; 2],
    noise: f32,
    light: [f32; 2],
    warp: f32,
    blotch: [f32; 4],
}

impl Look {
    fn draw(style: Style, a: &mut [f32; 3], b: &mut [f32; 3], rng: &mut impl Rng) -> Look {
        let angle = rng.random_range(0.0..2.0 * PI);
        let mut muted = || -> [f32; 3] {
            let base = rng.random_range(0.25..0.75);
            [0; 3].map(|_| (base + rng.random_range(-0.15..0.15f32)).clamp(0.0, 1.0))
        };
        let mut look = Look {
            style,
            bg: [muted(), muted()],
            bg_dir: [angle.cos(), angle.sin()],
            noise: 0.0,
            light: [rng.random_range(-0.3..0.3), rng.random_range(-0.3..0.3)],
            warp: rng.random_range(0.0..2.0 * PI),
            blotch: [0; 4].map(|_| rng.random_range(0.0..2.0 * PI)),
        };
        match style {
            Style::Photo => look.noise = 0.035,
            Style::Sketch => {
                let paper = rng.random_range(0.88..0.98);
                look.bg = [[paper, paper, paper * 0.97]; 2];
                look.noise = 0.02;
            }
            Style::Cartoon => {
                let pastel = [0; 3].map(|_| rng.random_range(0.75..0.98));
                look.bg = [pastel; 2];
                *a = saturate(*a, 1.4);
                *b = saturate(*b, 1.4);
            }
            Style::Painting => {
                let shift =
                    rng.random_range(0.35..0.9) * if rng.random::<bool>() { 1.0 } else { -1.0 };
                *a = hue_rotate(*a, shift);
                *b = hue_rotate(*b, shift);
                look.noise = 0.05;
            }
        }
        look
    }

    fn background(&self, x: f32, y: f32) -> [f32; 3] {
        let g = (0.5 + 0.5 * (x * self.bg_dir[0] + y * self.bg_dir[1]) * 0.7).clamp(0.0, 1.0);
        let mut c = lerp3(self.bg[0], self.bg[1], g);
        if self.style == Style::Painting {
            // Painting: slow, blotchy variation of the canvas.
            let v = (2.3 * x + self.blotch[0]).sin() * (1.9 * y + self.blotch[1]).sin()
                + 0.5 * (4.1 * (x + y) + self.blotch[2]).sin();
            c = c.map(|ch| (ch + 0.12 * v).clamp(0.0, 1.0));
        }
        c
    }

    /// Colour of a pixel at signed distance `d` from the shape, texture value `t`.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
    fn shade(
        &self,
        style: Style,
        d: f32,
        t: f32,
        q: [f32; 2],
        px: f32,
        a: [f32; 3],
        b: [f32; 3],
        bg: [f32; 3],
    ) -> [f32; 3] {
        match style {
            Style::Photo => {
                let inside = coverage(d, px);
                let light = 1.0
                    - 0.25 * (q[0] * self.light[0] + q[1] * self.light[1])
                    - 0.1 * (q[0] * q[0] + q[1] * q[1]);
                let obj = lerp3(a, b, t).map(|c| (c * light).clamp(0.0, 1.0));
                lerp3(bg, obj, inside)
            }
            Style::Sketch => {
                let wobble = 0.03 * (9.0 * q[0] + 7.0 * q[1] + self.warp).sin();
                let stroke = coverage((d + wobble).abs() - 0.06f32.max(0.75 * px), px);
                let hatch = coverage(d, px) * 0.8 * t;
                let g = 0.18;
                let paper = bg.map(|c| c * (1.0 - hatch));
                lerp3(paper, [g, g, g], stroke)
            }
            Style::Cartoon => {
                let flat = lerp3(a, b, if t > 0.5 { 1.0 } else { 0.0 });
                let fill = lerp3(bg, flat, coverage(d, px));
                let outline = coverage(d.abs() - 0.09, px);
                lerp3(fill, [0.05, 0.05, 0.05], outline)
            }
            Style::Painting => {
                let inside = coverage(d, px * 3.0);
                let brush = 0.08 * (13.0 * q[0] + 5.0 * q[1] + self.warp).sin();
                let obj = lerp3(a, b, (t + brush).clamp(0.0, 1.0))
                    .map(|c| (c * 0.85 + 0.12).clamp(0.0, 1.0));
                lerp3(bg, obj, inside)
            }
        }
    }
}

/// Small distractors behind the object (photo style only).
#[derive(Default)]
struct Clutter {
    strokes: Vec<Stroke>,
}

/// A thick line segment of one colour.
struct Stroke {
    from: [f32; 2],
    to: [f32; 2],
    width: f32,
    colour: [f32; 3],
}

impl Clutter {
    fn draw(rng: &mut impl Rng, n: usize) -> Clutter {
        let strokes = (0..n)
            .map(|_| {
                let p = [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)];
                let q = [
                    p[0] + rng.random_range(-0.6..0.6),
                    p[1] + rng.random_range(-0.6..0.6),
                ];
                let width = rng.random_range(0.02..0.07);
                let colour = [0; 3].map(|_| rng.random_range(0.1..0.9));
                Stroke {
                    from: p,
                    to: q,
                    width,
                    colour,
                }
            })
            .collect();
        Clutter { strokes }
    }

    fn paint(&self, bg: &mut [f32; 3], x: f32, y: f32, px: f32) {
        for s in &self.strokes {
            let d = segment_distance([x, y], s.from, s.to) - s.width;
            let cover = coverage(d, px) * 0.8;
            if cover > 0.0 {
                *bg = lerp3(*bg, s.colour, cover);
            }
        }
    }
}

/// Signed distance to shape `shape` (negative inside).
pub fn sdf(shape: usize, p: [f32; 2]) -> f32 {
    let [x, y] = p;
    let r = (x * x + y * y).sqrt();
    match shape {
        0 => r - 0.85,
        1 => box_sdf(p, [0.72, 0.72]),
        2 => {
            // Equilateral triangle of circumradius ≈ 1.
            let k = 3f32.sqrt();
            let (mut x, mut y) = (x.abs() - 0.9, y + 0.9 / k);
            if x + k * y > 0.0 {
                (x, y) = ((x - k * y) / 2.0, (-k * x - y) / 2.0);
            }
            x -= x.clamp(-1.8, 0.0);
            -(x * x + y * y).sqrt() * y.signum()
        }
        3 => (x.abs() + y.abs() - 0.95) / 2f32.sqrt(),
        4 => box_sdf(p, [0.9, 0.3]).min(box_sdf(p, [0.3, 0.9])),
        5 => (r - 0.62).abs() - 0.24,
        6 => {
            let (ax, ay) = (x.abs(), y.abs());
            (ax * 0.866 + ay * 0.5).max(ay) - 0.78
        }
        7 => {
            let theta = y.atan2(x);
            (r - (0.62 + 0.3 * (5.0 * theta).cos())) * 0.7
        }
        8 => (r - 0.85).max(-(((x - 0.45) * (x - 0.45) + y * y).sqrt() - 0.7)),
        _ => {
            // Capsule: a segment of half-length 0.6 thickened by 0.38.
            segment_distance(p, [-0.6, 0.0], [0.6, 0.0]) - 0.38
        }
    }
}

/// Texture value in [0, 1] at object coordinates `p`.
pub fn texture(texture: usize, p: [f32; 2], freq: f32, phase: [f32; 2]) -> f32 {
    let [x, y] = p;
    let step = |v: f32| if v > 0.0 { 1.0 } else { 0.0 };
    match texture {
        0 => 0.0,
        1 => step((freq * y + phase[0]).sin()),
        2 => step((freq * x + phase[0]).sin()),
        3 => step((freq * (x + y) * 0.707 + phase[0]).sin()),
        4 => step((0.8 * freq * x + phase[0]).sin() * (0.8 * freq * y + phase[1]).sin()),
        5 => {
            let cell = PI / (0.8 * freq);
            let fx = (x / cell + phase[0]).rem_euclid(1.0) - 0.5;
            let fy = (y / cell + phase[1]).rem_euclid(1.0) - 0.5;
            step(0.3 - (fx * fx + fy * fy).sqrt())
        }
        6 => step((freq * (x * x + y * y).sqrt() + phase[0]).sin()),
        _ => {
            let gx = (0.8 * freq * x + phase[0]).cos().abs();
            let gy = (0.8 * freq * y + phase[1]).cos().abs();
            step(gx.max(gy) - 0.88)
        }
    }
}

fn box_sdf(p: [f32; 2], half: [f32; 2]) -> f32 {
    let (dx, dy) = (p[0].abs() - half[0], p[1].abs() - half[1]);
    let outside = (dx.max(0.0).powi(2) + dy.max(0.0).powi(2)).sqrt();
    outside + dx.max(dy).min(0.0)
}

fn segment_distance(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (pax, pay) = (p[0] - a[0], p[1] - a[1]);
    let (bax, bay) = (b[0] - a[0], b[1] - a[1]);
    let h = ((pax * bax + pay * bay) / (bax * bax + bay * bay).max(1e-12)).clamp(0.0, 1.0);
    ((pax - bax * h).powi(2) + (pay - bay * h).powi(2)).sqrt()
}

/// Fraction of a pixel of width `px` covered by the region `d < 0`.
fn coverage(d: f32, px: f32) -> f32 {
    (0.5 - d / px).clamp(0.0, 1.0)
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn saturate(c: [f32; 3], k: f32) -> [f32; 3] {
    let grey = (c[0] + c[1] + c[2]) / 3.0;
    c.map(|v| (grey + (v - grey) * k).clamp(0.0, 1.0))
}

/// Rotates the hue of `c` by `angle` radians (rotation about the grey axis).
fn hue_rotate(c: [f32; 3], angle: f32) -> [f32; 3] {
    let (s, co) = angle.sin_cos();
    let k = 1.0 / 3.0;
    let sq = (1.0f32 / 3.0).sqrt();
    let m = [
        [
            co + (1.0 - co) * k,
            k * (1.0 - co) - sq * s,
            k * (1.0 - co) + sq * s,
        ],
        [
            k * (1.0 - co) + sq * s,
            co + k * (1.0 - co),
            k * (1.0 - co) - sq * s,
        ],
        [
            k * (1.0 - co) - sq * s,
            k * (1.0 - co) + sq * s,
            co + k * (1.0 - co),
        ],
    ];
    [0, 1, 2].map(|i| (m[i][0] * c[0] + m[i][1] * c[1] + m[i][2] * c[2]).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests;
