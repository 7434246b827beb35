"""Between the full frame and the model's 512x512 crop: crop windows and paste-back (`crop`), the disk cache of a
segment's crops (`crop_cache`), the leakage-proof masks (`masks`) and occluder composition (`occluders`)."""
