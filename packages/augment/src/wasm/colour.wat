;; SIMD colour steps of src/colour.ts on interleaved RGB floats, four pixels (three vectors
;; a = r0 g0 b0 r1, b = g1 b1 r2 g2, c = b2 r3 g3 b3) at a time; lumas are gathered and spread
;; back with i8x16.shuffle. The buffer at $p holds $groups * 4 pixels (callers zero-pad the last
;; group). Built into src/wasm/colour-wasm.ts by tools/fixtures/augment-wasm.js (wat2wasm).
(module
  (memory (export "memory") 1)
  (func (export "brightness") (param $p i32) (param $groups i32) (param $factor f32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    (local.set $f (f32x4.splat (local.get $factor)))
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (v128.store (local.get $p) (f32x4.min (f32x4.max (f32x4.mul (local.get $a) (local.get $f)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=16 (local.get $p) (f32x4.min (f32x4.max (f32x4.mul (local.get $b) (local.get $f)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=32 (local.get $p) (f32x4.min (f32x4.max (f32x4.mul (local.get $c) (local.get $f)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
  (func (export "blendScalar") (param $p i32) (param $groups i32) (param $factor f32) (param $m f32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    (local.set $f (f32x4.splat (local.get $factor)))
    (local.set $g (f32x4.splat (local.get $m)))
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (v128.store (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $a) (local.get $f)) (local.get $g)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=16 (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $b) (local.get $f)) (local.get $g)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=32 (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $c) (local.get $f)) (local.get $g)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
  (func (export "lumaSum") (param $p i32) (param $groups i32) (result f64) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128) (local $s f64)
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (local.set $l (f32x4.add (f32x4.add
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 20 21 22 23 (i8x16.shuffle 0 1 2 3 12 13 14 15 24 25 26 27 24 25 26 27 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.2989)))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 24 25 26 27 (i8x16.shuffle 4 5 6 7 16 17 18 19 28 29 30 31 28 29 30 31 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.587))))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 28 29 30 31 (i8x16.shuffle 8 9 10 11 20 21 22 23 20 21 22 23 20 21 22 23 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.114)))))
      (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $l)) (f32x4.extract_lane 1 (local.get $l)))
        (f32.add (f32x4.extract_lane 2 (local.get $l)) (f32x4.extract_lane 3 (local.get $l)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
    (local.get $s)
  )
  (func (export "saturation") (param $p i32) (param $groups i32) (param $factor f32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    (local.set $f (f32x4.splat (local.get $factor)))
    (local.set $g (f32x4.splat (f32.sub (f32.const 1) (local.get $factor))))
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (local.set $l (f32x4.mul (f32x4.add (f32x4.add
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 20 21 22 23 (i8x16.shuffle 0 1 2 3 12 13 14 15 24 25 26 27 24 25 26 27 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.2989)))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 24 25 26 27 (i8x16.shuffle 4 5 6 7 16 17 18 19 28 29 30 31 28 29 30 31 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.587))))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 28 29 30 31 (i8x16.shuffle 8 9 10 11 20 21 22 23 20 21 22 23 20 21 22 23 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.114)))) (local.get $g)))
      (v128.store (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $a) (local.get $f)) (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 4 5 6 7 (local.get $l) (local.get $l))) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=16 (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $b) (local.get $f)) (i8x16.shuffle 4 5 6 7 4 5 6 7 8 9 10 11 8 9 10 11 (local.get $l) (local.get $l))) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (v128.store offset=32 (local.get $p) (f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $c) (local.get $f)) (i8x16.shuffle 8 9 10 11 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $l) (local.get $l))) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
  (func (export "grayscale") (param $p i32) (param $groups i32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (local.set $l (f32x4.add (f32x4.add
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 20 21 22 23 (i8x16.shuffle 0 1 2 3 12 13 14 15 24 25 26 27 24 25 26 27 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.2989)))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 24 25 26 27 (i8x16.shuffle 4 5 6 7 16 17 18 19 28 29 30 31 28 29 30 31 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.587))))
        (f32x4.mul (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 28 29 30 31 (i8x16.shuffle 8 9 10 11 20 21 22 23 20 21 22 23 20 21 22 23 (local.get $a) (local.get $b)) (local.get $c)) (f32x4.splat (f32.const 0.114)))))
      (v128.store (local.get $p) (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 4 5 6 7 (local.get $l) (local.get $l)))
      (v128.store offset=16 (local.get $p) (i8x16.shuffle 4 5 6 7 4 5 6 7 8 9 10 11 8 9 10 11 (local.get $l) (local.get $l)))
      (v128.store offset=32 (local.get $p) (i8x16.shuffle 8 9 10 11 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $l) (local.get $l)))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
  (func (export "solarize") (param $p i32) (param $groups i32) (param $threshold f32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    (local.set $f (f32x4.splat (local.get $threshold)))
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (v128.store (local.get $p) (v128.bitselect (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $a)) (local.get $a) (f32x4.ge (local.get $a) (local.get $f))))
      (v128.store offset=16 (local.get $p) (v128.bitselect (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $b)) (local.get $b) (f32x4.ge (local.get $b) (local.get $f))))
      (v128.store offset=32 (local.get $p) (v128.bitselect (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $c)) (local.get $c) (f32x4.ge (local.get $c) (local.get $f))))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
  (func (export "normalize") (param $p i32) (param $groups i32) (param $k i32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $l v128) (local $t v128) (local $f v128) (local $g v128) (local $sum v128)
    (local $ma v128) (local $mb v128) (local $mc v128) (local $sa v128) (local $sb v128) (local $sc v128)
    (local.set $ma (v128.load (local.get $k)))
    (local.set $mb (v128.load offset=16 (local.get $k)))
    (local.set $mc (v128.load offset=32 (local.get $k)))
    (local.set $sa (v128.load offset=48 (local.get $k)))
    (local.set $sb (v128.load offset=64 (local.get $k)))
    (local.set $sc (v128.load offset=80 (local.get $k)))
    
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $groups) (i32.const 48))))
    
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (v128.load (local.get $p)))
      (local.set $b (v128.load offset=16 (local.get $p)))
      (local.set $c (v128.load offset=32 (local.get $p)))
      (v128.store (local.get $p) (f32x4.mul (f32x4.sub (local.get $a) (local.get $ma)) (local.get $sa)))
      (v128.store offset=16 (local.get $p) (f32x4.mul (f32x4.sub (local.get $b) (local.get $mb)) (local.get $sb)))
      (v128.store offset=32 (local.get $p) (f32x4.mul (f32x4.sub (local.get $c) (local.get $mc)) (local.get $sc)))
      (local.set $p (i32.add (local.get $p) (i32.const 48)))
      (br $next)))
  )
)
