;; SIMD kernels of resampleBicubic (src/resample.ts): the two separable passes of PIL's
;; antialiased bicubic filter on 3-channel float rows, four lanes (R, G, B, next R) at a time.
;; Built into src/wasm/resample-wasm.ts by tools/fixtures/augment-wasm.js (wat2wasm from wabt).
;; Every buffer needs 16 bytes of slack after its end: vectors read and write one float past
;; a pixel, and the next pixel (written later, in increasing address order) overwrites it.
(module
  (memory (export "memory") 1)

  ;; Bytes of the rows [y0, y0 + rows), columns [x0, x0 + cols) of an RGB image (row stride
  ;; `stride` bytes) to contiguous floats at dst (rows x cols*3), four bytes per step (the last
  ;; step of a row may run up to 3 values past it: the next row, or the slack, absorbs them).
  (func (export "u8ToF32")
    (param $src i32) (param $stride i32) (param $x0 i32) (param $y0 i32)
    (param $cols i32) (param $rows i32) (param $dst i32)
    (local $y i32) (local $i i32) (local $n i32) (local $s i32)
    (local.set $n (i32.mul (local.get $cols) (i32.const 3)))
    (block $yd (loop $yl
      (br_if $yd (i32.ge_u (local.get $y) (local.get $rows)))
      (local.set $s (i32.add (local.get $src)
        (i32.add (i32.mul (i32.add (local.get $y0) (local.get $y)) (local.get $stride))
                 (i32.mul (local.get $x0) (i32.const 3)))))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $n)))
        (v128.store align=4
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
            (v128.load32_zero align=1 (i32.add (local.get $s) (local.get $i)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $il)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yl)))
  )

  ;; Horizontal pass: `rows` rows of `rowLen` floats at src -> rows of outW RGB pixels at dst.
  ;; Output pixel xx = sum_k weights[xx * maxCount + k] * src pixel (start[xx] + k). With flip,
  ;; output position j holds pixel outW - 1 - j.
  (func (export "horiz")
    (param $src i32) (param $rowLen i32) (param $rows i32)
    (param $start i32) (param $count i32) (param $weights i32) (param $maxCount i32)
    (param $outW i32) (param $flip i32) (param $dst i32)
    (local $y i32) (local $j i32) (local $xx i32) (local $k i32) (local $n i32)
    (local $p i32) (local $w i32) (local $acc v128) (local $srow i32) (local $drow i32)
    (local $dstRowBytes i32)
    (local.set $dstRowBytes (i32.mul (local.get $outW) (i32.const 12)))
    (block $yd (loop $yl
      (br_if $yd (i32.ge_u (local.get $y) (local.get $rows)))
      (local.set $srow (i32.add (local.get $src)
        (i32.mul (local.get $y) (i32.shl (local.get $rowLen) (i32.const 2)))))
      (local.set $drow (i32.add (local.get $dst) (i32.mul (local.get $y) (local.get $dstRowBytes))))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $outW)))
        (local.set $xx (select
          (i32.sub (i32.sub (local.get $outW) (i32.const 1)) (local.get $j))
          (local.get $j)
          (local.get $flip)))
        (local.set $p (i32.add (local.get $srow)
          (i32.mul (i32.load (i32.add (local.get $start) (i32.shl (local.get $xx) (i32.const 2))))
                   (i32.const 12))))
        (local.set $n (i32.load (i32.add (local.get $count) (i32.shl (local.get $xx) (i32.const 2)))))
        (local.set $w (i32.add (local.get $weights)
          (i32.shl (i32.mul (local.get $xx) (local.get $maxCount)) (i32.const 2))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $k) (local.get $n)))
          (local.set $acc (f32x4.add (local.get $acc)
            (f32x4.mul (v128.load align=4 (local.get $p)) (f32x4.splat (f32.load (local.get $w))))))
          (local.set $p (i32.add (local.get $p) (i32.const 12)))
          (local.set $w (i32.add (local.get $w) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $kl)))
        (v128.store align=4 (i32.add (local.get $drow) (i32.mul (local.get $j) (i32.const 12))) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yl)))
  )

  ;; Vertical pass: rows of lineLen floats at tmp (row 0 is source row rowLo) -> outH rows at
  ;; dst, output row yy = gain * sum_k weights[yy * maxCount + k] * row (start[yy] + k), then
  ;; clamped to [lo, hi] (pass -inf, inf for no clamping).
  (func (export "vert")
    (param $tmp i32) (param $lineLen i32) (param $start i32) (param $count i32)
    (param $weights i32) (param $maxCount i32) (param $outH i32) (param $rowLo i32)
    (param $gain f32) (param $lo f32) (param $hi f32) (param $dst i32)
    (local $yy i32) (local $i i32) (local $k i32) (local $n i32) (local $s i32)
    (local $wb i32) (local $w i32) (local $q i32) (local $d i32)
    (local $acc v128) (local $g v128) (local $lineBytes i32) (local $vlo v128) (local $vhi v128)
    (local.set $lineBytes (i32.shl (local.get $lineLen) (i32.const 2)))
    (local.set $g (f32x4.splat (local.get $gain)))
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $vhi (f32x4.splat (local.get $hi)))
    (block $yd (loop $yl
      (br_if $yd (i32.ge_u (local.get $yy) (local.get $outH)))
      (local.set $s (i32.add (local.get $tmp)
        (i32.mul
          (i32.sub (i32.load (i32.add (local.get $start) (i32.shl (local.get $yy) (i32.const 2))))
                   (local.get $rowLo))
          (local.get $lineBytes))))
      (local.set $n (i32.load (i32.add (local.get $count) (i32.shl (local.get $yy) (i32.const 2)))))
      (local.set $wb (i32.add (local.get $weights)
        (i32.shl (i32.mul (local.get $yy) (local.get $maxCount)) (i32.const 2))))
      (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $yy) (local.get $lineBytes))))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $lineBytes)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $q (i32.add (local.get $s) (local.get $i)))
        (local.set $w (local.get $wb))
        (local.set $k (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $k) (local.get $n)))
          (local.set $acc (f32x4.add (local.get $acc)
            (f32x4.mul (v128.load align=4 (local.get $q)) (f32x4.splat (f32.load (local.get $w))))))
          (local.set $q (i32.add (local.get $q) (local.get $lineBytes)))
          (local.set $w (i32.add (local.get $w) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $kl)))
        (v128.store align=4 (i32.add (local.get $d) (local.get $i))
          (f32x4.min (f32x4.max (f32x4.mul (local.get $acc) (local.get $g)) (local.get $vlo)) (local.get $vhi)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $il)))
      (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
      (br $yl)))
  )
)
