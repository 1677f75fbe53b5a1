//! Captions of synthetic images: templated, varied sentences built from the
//! class factors (palette, texture, shape: always their words, so class-name
//! prompts use the captions' vocabulary) and the image's own scene (size,
//! position, clutter) and style.
//!
//! Used by contrastive (CLIP-style) pre-training as the text of each
//! image–text pair; `nml-noise --kind caption-swap` corrupts them.

use rand::Rng;

use super::render::{Factors, Scene, Style, PALETTES, SHAPES, TEXTURES};

/// Sentence templates; `{p}` palette, `{t}` texture, `{s}` shape, `{size}`,
/// `{where}`, `{bg}` background and `{medium}` words.
const TEMPLATES: [&str; 6] = [
    "a {size} {p} {t} {s} on a {bg} background",
    "a {medium} of a {p} {t} {s}",
    "{size} {s} with a {p} {t} pattern, {where}",
    "a {p} {s} covered in {t}, {bg} background",
    "there is a {t} {s} in {p} {where}",
    "{medium}: {p} {t} {s}, {size}",
];

/// One caption of an image of `factors` drawn in `style` with `scene`.
pub fn caption(factors: Factors, style: Style, scene: &Scene, rng: &mut impl Rng) -> String {
    let mut pick = |options: &[&'static str]| options[rng.random_range(0..options.len())];
    let palette = PALETTES[factors.palette].0;
    let spaced = palette.replace('-', " and ");
    let p = if pick(&["a", "b"]) == "a" {
        palette.to_owned()
    } else {
        spaced
    };
    let size = if scene.scale < 0.58 {
        pick(&["small", "little"])
    } else if scene.scale > 0.70 {
        pick(&["large", "big"])
    } else {
        pick(&["mid-sized", "medium"])
    };
    let place = if scene.center[0] < -0.1 {
        "on the left"
    } else if scene.center[0] > 0.1 {
        "on the right"
    } else {
        "in the middle"
    };
    let bg = match style {
        Style::Photo if scene.clutter >= 4 => pick(&["cluttered", "busy"]),
        Style::Photo => pick(&["simple", "tidy"]),
        Style::Sketch => "paper",
        Style::Cartoon => "plain",
        Style::Painting => "blotchy",
    };
    let medium = match style {
        Style::Photo => pick(&["photo", "picture"]),
        Style::Sketch => pick(&["sketch", "pencil drawing"]),
        Style::Cartoon => pick(&["cartoon", "drawing"]),
        Style::Painting => "painting",
    };
    let template = pick(&TEMPLATES);
    template
        .replace("{size}", size)
        .replace("{where}", place)
        .replace("{bg}", bg)
        .replace("{medium}", medium)
        .replace("{p}", &p)
        .replace("{t}", TEXTURES[factors.texture])
        .replace("{s}", SHAPES[factors.shape])
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn captions_name_the_class_words_and_vary() {
        let factors = Factors {
            shape: 2,
            texture: 5,
            palette: 0,
        };
        let scene = Scene {
            scale: 0.52,
            center: [-0.2, 0.0],
            clutter: 5,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let captions: Vec<String> = (0..40)
            .map(|_| caption(factors, Style::Photo, &scene, &mut rng))
            .collect();
        for c in &captions {
            for word in ["red", "yellow", "dots", "triangle"] {
                assert!(c.contains(word), "{c}");
            }
        }
        let distinct: std::collections::BTreeSet<&String> = captions.iter().collect();
        assert!(distinct.len() >= 10, "{distinct:?}");
        assert!(captions
            .iter()
            .any(|c| c.contains("small") || c.contains("little")));
        assert!(captions.iter().all(|c| !c.contains('{')), "{captions:?}");
    }
}
