package seed

// The vocabularies the generator draws from. They are functions returning
// fresh slices, so no package-level state can be changed by a caller.

func maleNames() []Name {
	return []Name{
		{"محمد", "Mohammad"}, {"أحمد", "Ahmad"}, {"محمود", "Mahmoud"}, {"خالد", "Khaled"},
		{"يوسف", "Yousef"}, {"إبراهيم", "Ibrahim"}, {"عمر", "Omar"}, {"علي", "Ali"},
		{"حسن", "Hasan"}, {"سامي", "Sami"}, {"رامي", "Rami"}, {"طارق", "Tareq"},
		{"فادي", "Fadi"}, {"باسل", "Basel"}, {"عماد", "Imad"}, {"ناصر", "Naser"},
		{"جميل", "Jamil"}, {"كريم", "Karim"}, {"زياد", "Ziad"}, {"مراد", "Murad"},
		{"سليم", "Salim"}, {"عيسى", "Issa"}, {"جورج", "George"}, {"إلياس", "Elias"},
		{"وليد", "Walid"}, {"هاني", "Hani"}, {"ماجد", "Majed"}, {"نبيل", "Nabil"},
		{"أيمن", "Ayman"}, {"سعيد", "Saeed"},
	}
}

func femaleNames() []Name {
	return []Name{
		{"فاطمة", "Fatima"}, {"عائشة", "Aisha"}, {"مريم", "Maryam"}, {"ليلى", "Layla"},
		{"أمل", "Amal"}, {"سلمى", "Salma"}, {"نور", "Nour"}, {"رنا", "Rana"},
		{"هبة", "Heba"}, {"دينا", "Dina"}, {"سارة", "Sara"}, {"ريم", "Reem"},
		{"لينا", "Lina"}, {"ياسمين", "Yasmin"}, {"هدى", "Huda"}, {"سناء", "Sanaa"},
		{"منى", "Mona"}, {"رشا", "Rasha"}, {"جمانة", "Jumana"}, {"ديما", "Dima"},
		{"رهف", "Rahaf"}, {"تالا", "Tala"}, {"جنى", "Jana"}, {"لمى", "Lama"},
		{"غادة", "Ghada"}, {"سهى", "Suha"}, {"عبير", "Abeer"}, {"نادية", "Nadia"},
		{"خلود", "Kholoud"}, {"إيمان", "Iman"},
	}
}

func familyNames() []Name {
	return []Name{
		{"حداد", "Haddad"}, {"خليل", "Khalil"}, {"منصور", "Mansour"}, {"عودة", "Odeh"},
		{"نصار", "Nassar"}, {"شاهين", "Shaheen"}, {"حمدان", "Hamdan"}, {"الخطيب", "Al-Khatib"},
		{"البرغوثي", "Barghouti"}, {"التميمي", "Tamimi"}, {"عبد الله", "Abdallah"}, {"جرار", "Jarrar"},
		{"النتشة", "Natsheh"}, {"القواسمي", "Qawasmi"}, {"الشريف", "Al-Sharif"}, {"دويك", "Dweik"},
		{"أبو عيشة", "Abu Eisheh"}, {"صالح", "Saleh"}, {"زعرور", "Zaarour"}, {"خوري", "Khoury"},
		{"سلامة", "Salameh"}, {"عياد", "Ayyad"}, {"مسعود", "Masoud"}, {"يعقوب", "Yaqoub"},
		{"الأحمد", "Al-Ahmad"}, {"بشارة", "Bishara"}, {"عوض", "Awad"}, {"حجازي", "Hijazi"},
		{"طه", "Taha"}, {"الزين", "Al-Zein"},
	}
}

// governorate is a governorate with some of its localities, the
// government hospital where its children are born, and its post office.
type governorate struct {
	name       Name
	code       string
	localities []Name
	hospital   Name
	office     Name
	centre     bool // the post office is a registration centre
}

func governorates() []governorate {
	return []governorate{
		{Name{"رام الله والبيرة", "Ramallah and Al-Bireh"}, "RAM", []Name{{"رام الله", "Ramallah"}, {"البيرة", "Al-Bireh"}, {"بيرزيت", "Birzeit"}},
			Name{"مجمع فلسطين الطبي", "Palestine Medical Complex"}, Name{"مكتب بريد رام الله الرئيسي", "Ramallah Main Post Office"}, true},
		{Name{"نابلس", "Nablus"}, "NAB", []Name{{"نابلس", "Nablus"}, {"حوارة", "Huwwara"}},
			Name{"مستشفى رفيديا الحكومي", "Rafidia Government Hospital"}, Name{"مكتب بريد نابلس", "Nablus Post Office"}, true},
		{Name{"الخليل", "Hebron"}, "HEB", []Name{{"الخليل", "Hebron"}, {"دورا", "Dura"}, {"حلحول", "Halhul"}},
			Name{"مستشفى الخليل الحكومي", "Hebron Government Hospital"}, Name{"مكتب بريد الخليل", "Hebron Post Office"}, true},
		{Name{"جنين", "Jenin"}, "JEN", []Name{{"جنين", "Jenin"}, {"قباطية", "Qabatiya"}},
			Name{"مستشفى جنين الحكومي", "Jenin Government Hospital"}, Name{"مكتب بريد جنين", "Jenin Post Office"}, false},
		{Name{"طولكرم", "Tulkarm"}, "TUL", []Name{{"طولكرم", "Tulkarm"}, {"عنبتا", "Anabta"}},
			Name{"مستشفى ثابت ثابت الحكومي", "Thabet Thabet Government Hospital"}, Name{"مكتب بريد طولكرم", "Tulkarm Post Office"}, false},
		{Name{"بيت لحم", "Bethlehem"}, "BET", []Name{{"بيت لحم", "Bethlehem"}, {"بيت جالا", "Beit Jala"}, {"بيت ساحور", "Beit Sahour"}},
			Name{"مستشفى بيت جالا الحكومي", "Beit Jala Government Hospital"}, Name{"مكتب بريد بيت لحم", "Bethlehem Post Office"}, true},
		{Name{"أريحا والأغوار", "Jericho and Al-Aghwar"}, "JER", []Name{{"أريحا", "Jericho"}},
			Name{"مستشفى أريحا الحكومي", "Jericho Government Hospital"}, Name{"مكتب بريد أريحا", "Jericho Post Office"}, false},
		{Name{"غزة", "Gaza"}, "GAZ", []Name{{"غزة", "Gaza"}, {"جباليا", "Jabalia"}},
			Name{"مجمع الشفاء الطبي", "Al-Shifa Medical Complex"}, Name{"مكتب بريد غزة الرئيسي", "Gaza Main Post Office"}, true},
		{Name{"خان يونس", "Khan Yunis"}, "KHY", []Name{{"خان يونس", "Khan Yunis"}, {"بني سهيلا", "Bani Suheila"}},
			Name{"مجمع ناصر الطبي", "Nasser Medical Complex"}, Name{"مكتب بريد خان يونس", "Khan Yunis Post Office"}, false},
	}
}

func streets() []Name {
	return []Name{
		{"شارع الإرسال", "Al-Irsal Street"}, {"شارع القدس", "Al-Quds Street"}, {"شارع الجامعة", "University Street"},
		{"شارع المدارس", "Schools Street"}, {"شارع الشهداء", "Martyrs Street"}, {"شارع النهضة", "Al-Nahda Street"},
		{"شارع عين مصباح", "Ein Misbah Street"}, {"شارع السلام", "Al-Salam Street"}, {"شارع الحسبة", "Al-Hisba Street"},
	}
}

// offence is a traffic offence with its fine in ILS minor units.
type offence struct {
	code  string
	name  Name
	minor int64
}

func offences() []offence {
	return []offence{
		{"SPD-10", Name{"تجاوز السرعة المحددة بأقل من 20 كم/س", "Speeding by less than 20 km/h"}, 25000},
		{"SPD-20", Name{"تجاوز السرعة المحددة بأكثر من 20 كم/س", "Speeding by more than 20 km/h"}, 75000},
		{"PRK-01", Name{"وقوف في مكان ممنوع", "Parking in a prohibited place"}, 10000},
		{"BLT-01", Name{"عدم وضع حزام الأمان", "Not wearing a seat belt"}, 25000},
		{"PHN-01", Name{"استعمال الهاتف أثناء القيادة", "Using a phone while driving"}, 50000},
		{"RED-01", Name{"تجاوز الإشارة الضوئية الحمراء", "Running a red light"}, 100000},
	}
}

// vehicleModel is a make and model with the kind of vehicle.
type vehicleModel struct {
	make, model string
	kind        Name
}

func vehicleModels() []vehicleModel {
	private := Name{"خصوصي", "Private car"}
	return []vehicleModel{
		{"Hyundai", "i10", private}, {"Kia", "Picanto", private}, {"Skoda", "Octavia", private},
		{"Volkswagen", "Golf", private}, {"Toyota", "Corolla", private}, {"Renault", "Clio", private},
		{"Mercedes-Benz", "Sprinter", Name{"عمومي", "Public transport"}}, {"Isuzu", "D-Max", Name{"تجاري", "Commercial"}},
	}
}

func colours() []Name {
	return []Name{{"أبيض", "White"}, {"فضي", "Silver"}, {"أسود", "Black"}, {"أحمر", "Red"}, {"أزرق", "Blue"}, {"رمادي", "Grey"}}
}
