//! A small 2-D renderer for the classic-control tasks, drawn from each step's observation
//! (pendulum: `cos, sin, theta_dot`; cartpole: `x, x_dot, theta, theta_dot`; mountaincar:
//! `position, velocity`), encoded as an animated GIF.

use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (240, 240);

#[derive(Clone, Copy)]
enum Scene {
    Pendulum,
    CartPole,
    MountainCar,
}

fn scene(env_id: &str) -> Option<Scene> {
    let id = env_id.split(':').next().unwrap_or("").to_ascii_lowercase();
    if id.starts_with("pendulum") {
        Some(Scene::Pendulum)
    } else if id.starts_with("cartpole") {
        Some(Scene::CartPole)
    } else if id.starts_with("mountaincar") {
        Some(Scene::MountainCar)
    } else {
        None
    }
}

/// Refuse, before any episode runs, an env this renderer cannot draw.
pub fn check(env_id: &str) -> Result<(), String> {
    scene(env_id).map(|_| ()).ok_or_else(|| {
        format!(
            "--render draws the classic-control tasks (pendulum, cartpole, mountaincar-continuous); `{env_id}` is none of them (MuJoCo rendering needs an offscreen GL context, which this renderer does not use)"
        )
    })
}

/// Draw one frame into an RGB buffer.
fn draw(scene: Scene, obs: &[f32], buf: &mut [u8]) -> Result<(), String> {
    let root = BitMapBackend::with_buffer(buf, SIZE).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (w, h) = (SIZE.0 as f64, SIZE.1 as f64);
    let px = |x: f64, y: f64| ((w / 2.0 + x) as i32, (h / 2.0 - y) as i32);
    let dark = RGBColor(40, 40, 40);
    let accent = RGBColor(214, 39, 40);
    match scene {
        Scene::Pendulum => {
            // theta = 0 is upright.
            let theta = (obs[1] as f64).atan2(obs[0] as f64);
            let len = 0.38 * w;
            let tip = px(len * theta.sin(), len * theta.cos());
            root.draw(&PathElement::new(
                vec![px(0.0, 0.0), tip],
                accent.stroke_width(10),
            ))
            .map_err(e)?;
            root.draw(&Circle::new(px(0.0, 0.0), 6, dark.filled()))
                .map_err(e)?;
        }
        Scene::CartPole => {
            // x in [-2.4, 2.4] spans the width; theta = 0 is upright.
            let scale = w / 5.6;
            let (x, theta) = (obs[0] as f64 * scale, obs[2] as f64);
            let ground = -0.25 * h;
            root.draw(&PathElement::new(
                vec![px(-w, ground), px(w, ground)],
                dark.stroke_width(1),
            ))
            .map_err(e)?;
            let cart = [px(x - 22.0, ground + 14.0), px(x + 22.0, ground)];
            root.draw(&Rectangle::new(cart, dark.filled())).map_err(e)?;
            let pivot = (x, ground + 14.0);
            let len = 0.45 * h;
            let tip = px(pivot.0 + len * theta.sin(), pivot.1 + len * theta.cos());
            root.draw(&PathElement::new(
                vec![px(pivot.0, pivot.1), tip],
                accent.stroke_width(6),
            ))
            .map_err(e)?;
        }
        Scene::MountainCar => {
            // position in [-1.2, 0.6]; height sin(3 p) * 0.45 + 0.55.
            let sx = |p: f64| (p + 1.2) / 1.8 * (w - 20.0) - (w - 20.0) / 2.0;
            let sy = |p: f64| ((3.0 * p).sin() * 0.45 + 0.55) * (h * 0.7) - h * 0.4;
            let hill: Vec<(i32, i32)> = (0..=100)
                .map(|i| {
                    let p = -1.2 + 1.8 * i as f64 / 100.0;
                    px(sx(p), sy(p))
                })
                .collect();
            root.draw(&PathElement::new(hill, dark.stroke_width(2)))
                .map_err(e)?;
            let flag = px(sx(0.45), sy(0.45));
            root.draw(&PathElement::new(
                vec![flag, (flag.0, flag.1 - 20)],
                dark.stroke_width(2),
            ))
            .map_err(e)?;
            let p = obs[0] as f64;
            root.draw(&Circle::new(px(sx(p), sy(p) + 8.0), 8, accent.filled()))
                .map_err(e)?;
        }
    }
    root.present().map_err(e)
}

/// The episode's frames as an animated GIF (20 frames per second, looping), written
/// atomically: a killed render leaves no half file.
pub fn gif(env_id: &str, frames: &[Vec<f32>], out: &Path) -> Result<(), String> {
    let scene = scene(env_id).ok_or_else(|| format!("cannot render `{env_id}`"))?;
    let mut bytes = Vec::new();
    let mut encoder = gif::Encoder::new(&mut bytes, SIZE.0 as u16, SIZE.1 as u16, &[])
        .map_err(|e| e.to_string())?;
    encoder
        .set_repeat(gif::Repeat::Infinite)
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    for obs in frames {
        draw(scene, obs, &mut buf)?;
        let mut frame = gif::Frame::from_rgb_speed(SIZE.0 as u16, SIZE.1 as u16, &buf, 20);
        frame.delay = 5;
        encoder.write_frame(&frame).map_err(|e| e.to_string())?;
    }
    drop(encoder);
    crate::output::run_dir::write_atomic(out, &bytes)
}
