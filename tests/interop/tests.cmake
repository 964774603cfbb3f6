# Interop: `lpsparsify run` against onnxruntime-node on the same inputs, one
# ctest per model (interop/<kind>/<model>), compared to rtol 1e-4 by
# check_interop.py. The reference runtime is installed by
# scripts/install-deps.sh (npm install in tests/interop); a missing node or
# onnxruntime-node makes these tests FAIL with the install hint, never skip.
#
# Models: every models/*.onnx (the bundled models, whatever they are at
# configure time), the generated exporter patterns of gen_models.py, and a
# sample of conformance cases the engine supports, chosen to cover every
# operator family and attribute form (inputs from their test_data_set_0).
lps_python_suite_ready(LPS_INTEROP_PYTHON_OK "the interop tests")
if(NOT LPS_INTEROP_PYTHON_OK)
  return()
endif()

set(LPS_INTEROP_DIR ${CMAKE_CURRENT_LIST_DIR})
set(LPS_INTEROP_WORK ${CMAKE_BINARY_DIR}/interop)

function(lps_interop_test name kind target)
  add_test(NAME interop/${name}
           COMMAND ${LPS_PYTHON3} ${LPS_INTEROP_DIR}/check_interop.py
                   $<TARGET_FILE:lpsparsify_cli> ${LPS_NODE} ${LPS_INTEROP_WORK}/${name} ${kind} ${target})
endfunction()

file(GLOB LPS_BUNDLED_MODELS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/models/*.onnx)
foreach(model ${LPS_BUNDLED_MODELS})
  get_filename_component(name ${model} NAME_WE)
  lps_interop_test(models/${name} model ${model})
endforeach()

set(LPS_INTEROP_GENERATED
  flatten_shape_gather_op13 flatten_shape_gather_op11 flatten_shape_gather_op9
  clip_input_bounds_op13 clip_input_bounds_op11 clip_attributes_op9
  conv_bn_residual_op13 conv_bn_residual_op9
  matmul_add_softmax_op13 matmul_add_softmax_op11
  gemm_flatten_dropout_op13 gemm_flatten_dropout_op9 dropout_mask_op13
  transpose_concat_pad_reduce_op13 transpose_concat_pad_reduce_op9
  cnn_pool_op13 cnn_pool_op11 two_inputs_broadcast_op13
  conv_variants_op13 pool_variants_op12 conv_pool_1d_3d_op13
  lstm_bidir_lens_peepholes_op13 lstm_reverse_clip_forget_op9 lstm_activations_op11
  gru_lbr_bidir_lens_op13 gru_reverse_clip_op7 rnn_relu_bidir_lens_op11
  masks_casts_op13 activations_op14 pow_variadic_op13 gelu_op20
  norm_upsample_op17)
foreach(name ${LPS_INTEROP_GENERATED})
  lps_interop_test(generated/${name} generated ${name})
endforeach()

# Slicing, repeating and shape-subgraph patterns (gen_shape_models.py).
set(LPS_INTEROP_SHAPE_MODELS
  class_token_op13 class_token_op11 class_token_op9 slice_split_tile_op13 slice_split_tile_op9
  split_num_outputs_op18)
foreach(name ${LPS_INTEROP_SHAPE_MODELS})
  lps_interop_test(generated/${name} generated ${name})
endforeach()

set(LPS_INTEROP_CONFORMANCE
  node/test_add_bcast node/test_div_bcast node/test_sqrt_example node/test_leakyrelu
  node/test_averagepool_2d_ceil node/test_averagepool_2d_pads_count_include_pad
  node/test_averagepool_2d_same_lower
  node/test_basic_conv_with_padding node/test_conv_with_autopad_same
  node/test_conv_with_strides_and_asymmetric_padding
  node/test_batchnorm_epsilon
  node/test_clip_default_min node/test_clip_splitbounds
  node/test_concat_3d_axis_negative_2 node/test_constant
  node/test_constant_pad node/test_reflect_pad node/test_edge_pad
  node/test_dropout_default_mask_ratio node/test_flatten_negative_axis2
  node/test_gather_2d_indices node/test_gather_negative_indices
  node/test_gemm_all_attributes node/test_gemm_transposeA
  node/test_logsoftmax_large_number node/test_softmax_axis_0 node/test_matmul_4d
  node/test_maxpool_2d_dilations node/test_maxpool_2d_uint8 node/test_maxpool_3d_default
  node/test_reduce_mean_negative_axes_keepdims_random
  node/test_reshape_zero_and_negative_dim node/test_shape_start_1_end_negative_1
  node/test_squeeze_negative_axes node/test_transpose_all_permutations_4
  node/test_unsqueeze_unsorted_axes
  node/test_layer_normalization_4d_axis_negative_2 node/test_convtranspose_autopad_same
  node/test_convtranspose_output_shape
  node/test_resize_downsample_scales_linear_align_corners
  node/test_resize_downsample_scales_cubic_align_corners node/test_resize_tf_crop_and_resize
  node/test_resize_upsample_sizes_nearest_floor_align_corners node/test_upsample_nearest
  pytorch-converted/test_MaxPool1d_stride_padding_dilation
  pytorch-converted/test_MaxPool2d_stride_padding_dilation)
foreach(case ${LPS_INTEROP_CONFORMANCE})
  lps_interop_test(conformance/${case} conformance ${LPS_ONNX_TESTDATA}/${case})
endforeach()
