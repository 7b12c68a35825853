"""mattinglib.models"""
