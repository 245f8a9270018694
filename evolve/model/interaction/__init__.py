"""The interaction-to-mask network (GLTM's A-Net role): scribbles -> mask + indicator feature."""
