//! Sample grids: the images of one iteration side by side (real A | fake B | real B | idt B, or
//! each model's own visuals), each tile at least [`MIN_TILE`] pixels, with column captions and
//! the iteration written in the image; saved as `samples/iter_N.png`.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use enco_data::image::{RgbImage, imageops};
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::TrainError;
use crate::plot::{FONT_FAMILY, register_bundled_font, save_png_atomically};

/// The smallest side of a tile in a sample grid, in pixels: smaller images are enlarged by an
/// integer factor with nearest-neighbour sampling (pixels stay visible as pixels).
pub const MIN_TILE: u32 = 256;
/// Height of the title band at the top of a grid (the iteration).
pub const TITLE_HEIGHT: u32 = 34;
/// Height of the caption band above the tiles.
pub const CAPTION_HEIGHT: u32 = 26;

/// One column of a sample grid: its caption and its images `[N, 3, H, W]` in [-1, 1].
pub type SampleColumn<B> = (String, Tensor<B, 4>);

/// The integer enlargement of an `h × w` image that makes its smaller side at least
/// [`MIN_TILE`] (1 when it already is).
pub fn tile_scale(h: usize, w: usize) -> u32 {
    let side = h.min(w).max(1) as u32;
    MIN_TILE.div_ceil(side).max(1)
}

/// Builds a sample grid: `title` in a band at the top, then one caption per column, then one row
/// per batch item with a tile per column (enlarged by [`tile_scale`]). Columns of different
/// shapes, no column, or an empty batch are an error.
///
/// # Shapes
/// Every column: `[N, 3, H, W]`; the grid is `columns·s·W` wide and
/// `TITLE_HEIGHT + CAPTION_HEIGHT + N·s·H` high, with `s = tile_scale(H, W)`.
pub fn sample_grid<B: Backend>(
    columns: Vec<SampleColumn<B>>,
    title: &str,
) -> Result<RgbImage, TrainError> {
    let Some((_, first)) = columns.first() else {
        return Err(TrainError::SampleGrid(
            "a sample grid needs a column".into(),
        ));
    };
    let [n, _, h, w] = first.dims();
    if n == 0 || h == 0 || w == 0 {
        return Err(TrainError::SampleGrid(format!(
            "an empty batch {:?}",
            first.dims()
        )));
    }
    let scale = tile_scale(h, w);
    let (tile_w, tile_h) = (w as u32 * scale, h as u32 * scale);
    let top = TITLE_HEIGHT + CAPTION_HEIGHT;
    let mut grid = RgbImage::from_pixel(
        tile_w * columns.len() as u32,
        top + tile_h * n as u32,
        enco_data::image::Rgb([255, 255, 255]),
    );
    let mut captions = Vec::with_capacity(columns.len());
    for (col, (caption, tensor)) in columns.into_iter().enumerate() {
        if tensor.dims() != [n, 3, h, w] {
            return Err(TrainError::SampleGrid(format!(
                "column {col} ({caption}) is {:?}, expected {:?}",
                tensor.dims(),
                [n, 3, h, w]
            )));
        }
        let values = tensor
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| TrainError::SampleGrid(format!("{e:?}")))?;
        for row in 0..n {
            let start = row * 3 * h * w;
            let tile = enco_data::data_to_image(&values[start..start + 3 * h * w], 3, h, w);
            let tile = imageops::resize(&tile, tile_w, tile_h, imageops::FilterType::Nearest);
            imageops::replace(
                &mut grid,
                &tile,
                (col as u32 * tile_w) as i64,
                (top + row as u32 * tile_h) as i64,
            );
        }
        captions.push(caption);
    }
    write_captions(&mut grid, title, &captions, tile_w)?;
    Ok(grid)
}

/// Draws the title and the column captions into the top bands of `grid`.
fn write_captions(
    grid: &mut RgbImage,
    title: &str,
    captions: &[String],
    tile_w: u32,
) -> Result<(), TrainError> {
    register_bundled_font();
    let size = grid.dimensions();
    let text_error = |e: &dyn std::fmt::Display| TrainError::SampleGrid(format!("text: {e}"));
    let root = BitMapBackend::with_buffer(grid, size).into_drawing_area();
    let title_style = (FONT_FAMILY, 18, FontStyle::Bold)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(
        title.to_string(),
        (8, TITLE_HEIGHT as i32 / 2),
        title_style,
    ))
    .map_err(|e| text_error(&e))?;
    let caption_style = (FONT_FAMILY, 15)
        .into_font()
        .color(&RGBColor(40, 40, 40))
        .pos(Pos::new(HPos::Center, VPos::Center));
    for (col, caption) in captions.iter().enumerate() {
        let x = (col as u32 * tile_w + tile_w / 2) as i32;
        let y = (TITLE_HEIGHT + CAPTION_HEIGHT / 2) as i32;
        root.draw(&Text::new(caption.clone(), (x, y), caption_style.clone()))
            .map_err(|e| text_error(&e))?;
    }
    root.present().map_err(|e| text_error(&e))
}

/// The file name of the sample grid of `iteration`: `iter_NNNNNNNNNN.png`.
pub fn sample_file_name(iteration: u64) -> String {
    format!("iter_{iteration:010}.png")
}

/// The iteration of a sample grid's file name ([`sample_file_name`]), if it is one.
pub fn sample_iteration(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix("iter_")?
        .strip_suffix(".png")?
        .parse()
        .ok()
}

/// Saves a sample grid as `dir/iter_NNNNNNNNNN.png` (atomically); returns the path.
pub fn save_sample_grid(
    grid: &RgbImage,
    dir: &Path,
    iteration: u64,
) -> Result<PathBuf, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::output(dir, e))?;
    let path = dir.join(sample_file_name(iteration));
    save_png_atomically(grid, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_reach_the_minimum_size_by_whole_factors() {
        assert_eq!(tile_scale(64, 64), 4);
        assert_eq!(tile_scale(100, 300), 3);
        assert_eq!(tile_scale(256, 256), 1);
        assert_eq!(tile_scale(512, 300), 1);
    }

    #[test]
    fn sample_names_round_trip() {
        assert_eq!(sample_iteration(&sample_file_name(1200)), Some(1200));
        assert_eq!(sample_iteration("iter_12.png.tmp"), None);
        assert_eq!(sample_iteration("notes.png"), None);
    }
}
