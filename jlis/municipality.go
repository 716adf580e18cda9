package jlis

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Municipality is the municipality (市区町村) that issues a card, as the certificate's subject
// locality and per-municipality CRL distribution point name it.
type Municipality struct {
	Code             string // 5-digit 全国地方公共団体コード (without check digit)
	Prefecture       string // e.g. 東京都
	City             string // e.g. 清瀬市
	PrefectureRomaji string // e.g. Tokyo
	CityRomaji       string // e.g. Kiyose-shi
}

var prefectures = []struct{ code, name, romaji string }{
	{"01", "北海道", "Hokkaido"}, {"02", "青森県", "Aomori"}, {"03", "岩手県", "Iwate"}, {"04", "宮城県", "Miyagi"},
	{"05", "秋田県", "Akita"}, {"06", "山形県", "Yamagata"}, {"07", "福島県", "Fukushima"}, {"08", "茨城県", "Ibaraki"},
	{"09", "栃木県", "Tochigi"}, {"10", "群馬県", "Gunma"}, {"11", "埼玉県", "Saitama"}, {"12", "千葉県", "Chiba"},
	{"13", "東京都", "Tokyo"}, {"14", "神奈川県", "Kanagawa"}, {"15", "新潟県", "Niigata"}, {"16", "富山県", "Toyama"},
	{"17", "石川県", "Ishikawa"}, {"18", "福井県", "Fukui"}, {"19", "山梨県", "Yamanashi"}, {"20", "長野県", "Nagano"},
	{"21", "岐阜県", "Gifu"}, {"22", "静岡県", "Shizuoka"}, {"23", "愛知県", "Aichi"}, {"24", "三重県", "Mie"},
	{"25", "滋賀県", "Shiga"}, {"26", "京都府", "Kyoto"}, {"27", "大阪府", "Osaka"}, {"28", "兵庫県", "Hyogo"},
	{"29", "奈良県", "Nara"}, {"30", "和歌山県", "Wakayama"}, {"31", "鳥取県", "Tottori"}, {"32", "島根県", "Shimane"},
	{"33", "岡山県", "Okayama"}, {"34", "広島県", "Hiroshima"}, {"35", "山口県", "Yamaguchi"}, {"36", "徳島県", "Tokushima"},
	{"37", "香川県", "Kagawa"}, {"38", "愛媛県", "Ehime"}, {"39", "高知県", "Kochi"}, {"40", "福岡県", "Fukuoka"},
	{"41", "佐賀県", "Saga"}, {"42", "長崎県", "Nagasaki"}, {"43", "熊本県", "Kumamoto"}, {"44", "大分県", "Oita"},
	{"45", "宮崎県", "Miyazaki"}, {"46", "鹿児島県", "Kagoshima"}, {"47", "沖縄県", "Okinawa"},
}

// cities is a small table of real municipalities. Addresses in other municipalities get a
// synthetic code in the prefecture's range (see LookupMunicipality).
var cities = []struct{ code, name, romaji string }{
	{"13101", "千代田区", "Chiyoda-ku"}, {"13102", "中央区", "Chuo-ku"}, {"13103", "港区", "Minato-ku"},
	{"13104", "新宿区", "Shinjuku-ku"}, {"13105", "文京区", "Bunkyo-ku"}, {"13106", "台東区", "Taito-ku"},
	{"13107", "墨田区", "Sumida-ku"}, {"13108", "江東区", "Koto-ku"}, {"13109", "品川区", "Shinagawa-ku"},
	{"13110", "目黒区", "Meguro-ku"}, {"13111", "大田区", "Ota-ku"}, {"13112", "世田谷区", "Setagaya-ku"},
	{"13113", "渋谷区", "Shibuya-ku"}, {"13114", "中野区", "Nakano-ku"}, {"13115", "杉並区", "Suginami-ku"},
	{"13116", "豊島区", "Toshima-ku"}, {"13117", "北区", "Kita-ku"}, {"13118", "荒川区", "Arakawa-ku"},
	{"13119", "板橋区", "Itabashi-ku"}, {"13120", "練馬区", "Nerima-ku"}, {"13121", "足立区", "Adachi-ku"},
	{"13122", "葛飾区", "Katsushika-ku"}, {"13123", "江戸川区", "Edogawa-ku"}, {"13201", "八王子市", "Hachioji-shi"},
	{"13221", "清瀬市", "Kiyose-shi"}, {"13229", "西東京市", "Nishitokyo-shi"}, {"01100", "札幌市", "Sapporo-shi"},
	{"04100", "仙台市", "Sendai-shi"}, {"11100", "さいたま市", "Saitama-shi"}, {"12100", "千葉市", "Chiba-shi"},
	{"14100", "横浜市", "Yokohama-shi"}, {"14130", "川崎市", "Kawasaki-shi"}, {"22100", "静岡市", "Shizuoka-shi"},
	{"23100", "名古屋市", "Nagoya-shi"}, {"26100", "京都市", "Kyoto-shi"}, {"27100", "大阪市", "Osaka-shi"},
	{"28100", "神戸市", "Kobe-shi"}, {"34100", "広島市", "Hiroshima-shi"}, {"40130", "福岡市", "Fukuoka-shi"},
	{"40100", "北九州市", "Kitakyushu-shi"}, {"43100", "熊本市", "Kumamoto-shi"}, {"47201", "那覇市", "Naha-shi"},
}

// LookupMunicipality finds the municipality of an address: the prefecture by its name at the
// start, the municipality from the built-in table, or — for municipalities not in the table — a
// synthetic code "PP9NN" derived from the municipality's name, romanised as "Municipality-PP9NN".
// An address that does not start with a prefecture is an error.
func LookupMunicipality(address string) (Municipality, error) {
	addr := strings.TrimSpace(address)
	for _, p := range prefectures {
		if !strings.HasPrefix(addr, p.name) {
			continue
		}
		rest := strings.TrimPrefix(addr, p.name)
		best := -1
		for i, c := range cities {
			if c.code[:2] == p.code && strings.HasPrefix(rest, c.name) && (best < 0 || len(c.name) > len(cities[best].name)) {
				best = i
			}
		}
		if best >= 0 {
			c := cities[best]
			return Municipality{Code: c.code, Prefecture: p.name, City: c.name, PrefectureRomaji: p.romaji, CityRomaji: c.romaji}, nil
		}
		city := cityPart(rest)
		if city == "" {
			return Municipality{}, fmt.Errorf("jlis: address %q names no municipality (市区町村) after %s", address, p.name)
		}
		h := fnv.New32a()
		h.Write([]byte(p.name + city))
		code := fmt.Sprintf("%s9%02d", p.code, h.Sum32()%100)
		return Municipality{Code: code, Prefecture: p.name, City: city, PrefectureRomaji: p.romaji, CityRomaji: "Municipality-" + code}, nil
	}
	return Municipality{}, fmt.Errorf("jlis: address %q does not start with a prefecture (都道府県)", address)
}

// cityPart returns the text up to and including the first 市, 区, 町 or 村 (a 郡 prefix is kept).
func cityPart(rest string) string {
	runes := []rune(rest)
	start := 0
	for i, r := range runes {
		if r == '郡' && start == 0 {
			start = i + 1
			continue
		}
		if i >= start && i > 0 && strings.ContainsRune("市区町村", r) {
			return string(runes[:i+1])
		}
	}
	return ""
}
