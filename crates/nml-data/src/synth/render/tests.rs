//! Unit tests of the renderer: shapes, textures and palettes.

use super::*;

#[test]
fn every_shape_contains_its_centre_and_excludes_the_corners() {
    for (shape, name) in SHAPES.iter().enumerate() {
        // The ring and crescent are hollow or offset at the centre; test a point on their body.
        let inside = match shape {
            5 => [0.62, 0.0],
            8 => [-0.6, 0.0],
            _ => [0.0, 0.0],
        };
        assert!(sdf(shape, inside) < 0.0, "{name} must contain {inside:?}");
        assert!(
            sdf(shape, [1.4, 1.4]) > 0.0,
            "{name} must exclude the corner"
        );
    }
}

#[test]
fn textures_alternate_except_plain() {
    for (tex, name) in TEXTURES.iter().enumerate().skip(1) {
        let values: Vec<f32> = (0..400)
            .map(|i| {
                texture(
                    tex,
                    [(i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 10.0 - 1.0],
                    7.0,
                    [0.3, 0.7],
                )
            })
            .collect();
        let on = values.iter().filter(|v| **v > 0.5).count();
        assert!(
            on > 20 && on < 380,
            "{name} is almost constant ({on}/400 on)"
        );
    }
}
