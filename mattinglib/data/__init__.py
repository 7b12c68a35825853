"""mattinglib.data"""
