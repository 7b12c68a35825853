"""mattinglib.train"""
