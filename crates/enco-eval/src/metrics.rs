//! PSNR and SSIM for data sets with a known target.

use enco_data::image::RgbImage;

use crate::error::EvalError;

fn same_size(a: &RgbImage, b: &RgbImage) -> Result<(), EvalError> {
    if a.dimensions() != b.dimensions() {
        return Err(EvalError::SizeMismatch(a.dimensions(), b.dimensions()));
    }
    Ok(())
}

/// Peak signal-to-noise ratio in dB over all channels, peak 255:
/// `10·log10(255² / MSE)`; infinite for identical images.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> Result<f64, EvalError> {
    same_size(a, b)?;
    let n = a.as_raw().len() as f64;
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / n;
    Ok(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    })
}

/// The standard SSIM (Wang et al. 2004): 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
/// K2 = 0.03, L = 255, computed per channel over the valid window positions and averaged over
/// positions and channels.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> Result<f64, EvalError> {
    same_size(a, b)?;
    let (w, h) = a.dimensions();
    const SIZE: usize = 11;
    if (w as usize) < SIZE || (h as usize) < SIZE {
        return Err(EvalError::TooSmall((w, h)));
    }
    let (w, h) = (w as usize, h as usize);
    let sigma = 1.5f64;
    let g1: Vec<f64> = (0..SIZE)
        .map(|i| {
            let d = i as f64 - 5.0;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let norm: f64 = g1.iter().sum();
    let g1: Vec<f64> = g1.iter().map(|v| v / norm).collect();
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (ra, rb) = (a.as_raw(), b.as_raw());
    let mut total = 0.0;
    let mut count = 0usize;
    for c in 0..3 {
        let px = |raw: &[u8], x: usize, y: usize| raw[(y * w + x) * 3 + c] as f64;
        for y0 in 0..=h - SIZE {
            for x0 in 0..=w - SIZE {
                let (mut mx, mut my, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for (j, gy) in g1.iter().enumerate() {
                    for (i, gx) in g1.iter().enumerate() {
                        let g = gy * gx;
                        let (x, y) = (px(ra, x0 + i, y0 + j), px(rb, x0 + i, y0 + j));
                        mx += g * x;
                        my += g * y;
                        sxx += g * x * x;
                        syy += g * y * y;
                        sxy += g * x * y;
                    }
                }
                let (vx, vy, cxy) = (sxx - mx * mx, syy - my * my, sxy - mx * my);
                total += ((2.0 * mx * my + c1) * (2.0 * cxy + c2))
                    / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count += 1;
            }
        }
    }
    Ok(total / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use enco_data::image::Rgb;

    fn constant(v: u8) -> RgbImage {
        RgbImage::from_pixel(16, 16, Rgb([v, v, v]))
    }

    #[test]
    fn psnr_of_a_constant_offset_and_of_identical_images() {
        // MSE = 5² gives 10·log10(255² / 25) = 20·log10(51).
        let value = psnr(&constant(100), &constant(105)).unwrap();
        assert!((value - 20.0 * 51f64.log10()).abs() < 1e-12, "{value}");
        assert_eq!(psnr(&constant(7), &constant(7)).unwrap(), f64::INFINITY);
    }

    #[test]
    fn ssim_of_constants_and_size_errors() {
        // Constant images: (2ab + C1) / (a² + b² + C1), C1 = (0.01·255)².
        let (a, b) = (100.0, 150.0);
        let c1 = (0.01f64 * 255.0).powi(2);
        let expected = (2.0 * a * b + c1) / (a * a + b * b + c1);
        let value = ssim(&constant(100), &constant(150)).unwrap();
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
        assert!((ssim(&constant(9), &constant(9)).unwrap() - 1.0).abs() < 1e-12);
        let small = RgbImage::new(8, 8);
        assert!(matches!(ssim(&small, &small), Err(EvalError::TooSmall(_))));
        assert!(matches!(
            psnr(&constant(1), &RgbImage::new(4, 4)),
            Err(EvalError::SizeMismatch(..))
        ));
    }
}
