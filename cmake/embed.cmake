# Writes OUT, a C file defining NAME (a NUL-terminated char array holding the
# bytes of the files IN, a comma-separated list, concatenated in order) and
# NAME_len (its length without the NUL).
set(hex "")
string(REPLACE "," ";" files "${IN}")
foreach(f ${files})
    file(READ ${f} part HEX)
    string(APPEND hex "${part}0a")
endforeach()
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "#include <stddef.h>\nconst char ${NAME}[] = {${bytes} 0x00};\nconst size_t ${NAME}_len = ${size};\n")
