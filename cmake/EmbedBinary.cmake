# cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P EmbedBinary.cmake
# Writes a C++ source defining extern "C" `SYMBOL[]` and `SYMBOL_size` with INPUT's bytes.
file(READ "${INPUT}" _hex HEX)
string(LENGTH "${_hex}" _hex_length)
math(EXPR _size "${_hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
# The driver reads a fatbin as 64-bit words: keep it aligned.
file(WRITE "${OUTPUT}" "#include <cstddef>\nextern \"C\" {\nextern const unsigned char ${SYMBOL}[];\n"
                       "extern const std::size_t ${SYMBOL}_size;\n"
                       "alignas(8) const unsigned char ${SYMBOL}[] = {${_bytes}};\n"
                       "const std::size_t ${SYMBOL}_size = ${_size};\n}\n")
